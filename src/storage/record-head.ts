// The handler's cheap duplicate check: a record's state and dedup high-water mark, read
// outside the reducer's transaction. Only a hint; the reducer re-checks under its lock.
import type BetterSqlite3 from "better-sqlite3";
import type { HostState } from "../core/domain.js";
import type { Database } from "./database.js";
import { toNumber } from "./to-number.js";

/** A record's state and last applied seq. */
export interface RecordHead {
  readonly state: HostState;
  readonly lastEventSeq: number;
  /** Seqs the record is missing: a seq at or below the last may still fill one. */
  readonly missingSeqCount: number;
}

/** A head lookup: synchronous on SQLite, a promise on PostgreSQL; undefined when no record. */
export type HeadLookup = (
  rolloutId: string,
  hostname: string,
) => RecordHead | undefined | Promise<RecordHead | undefined>;

const SQL =
  "select state, last_event_seq, missing_seq_count from host_rollout_records where rollout_id = $1 and hostname = $2";

/**
 * Creates the lookup for a database: on SQLite one statement prepared once on the raw handle
 * (synchronous, microseconds); on PostgreSQL one parameterized query.
 */
export function createRecordHeadLookup(database: Database): HeadLookup {
  if (database.kind === "sqlite") {
    const statement: BetterSqlite3.Statement = database.raw
      .prepare(SQL.replace(/\$\d/g, "?"))
      .raw(true);
    return (rolloutId, hostname) => {
      const row = statement.get(rolloutId, hostname) as [string, bigint, bigint] | undefined;
      return row === undefined
        ? undefined
        : {
            state: row[0] as HostState,
            lastEventSeq: toNumber(row[1]),
            missingSeqCount: toNumber(row[2]),
          };
    };
  }
  const pool = database.pool;
  return async (rolloutId, hostname) => {
    // Unnamed on purpose: a named statement keeps a plan made while the table was empty.
    const result = await pool.query<{
      state: string;
      last_event_seq: string | number;
      missing_seq_count: string | number;
    }>(SQL, [rolloutId, hostname]);
    const row = result.rows[0];
    return row === undefined
      ? undefined
      : {
          state: row.state as HostState,
          lastEventSeq: toNumber(row.last_event_seq),
          missingSeqCount: toNumber(row.missing_seq_count),
        };
  };
}
