// The handler's cheap duplicate check: a record's state and dedup high-water mark, read
// outside the reducer's transaction. Only a hint; the reducer re-checks under its lock.
import type { HostState } from "../core/domain.js";
import { compileStatement, statementBuilder } from "./compiled-statement.js";
import type { Database } from "./database.js";
import { queryPostgresStatement } from "./postgres-statement.js";
import type { DialectKind } from "./schema.js";
import { prepareSqliteStatement } from "./sqlite-statement.js";
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

// Built by Kysely from the typed schema, compiled once per dialect.
function selectHead(kind: DialectKind) {
  const db = statementBuilder(kind);
  return compileStatement((p: { rolloutId: string; hostname: string }) =>
    db
      .selectFrom("host_rollout_records")
      .select(["state", "last_event_seq", "missing_seq_count"])
      .where("rollout_id", "=", p.rolloutId)
      .where("hostname", "=", p.hostname),
  );
}

/** The head a row holds. */
function toHead(row: {
  state: HostState;
  last_event_seq: number | bigint;
  missing_seq_count: number | bigint;
}): RecordHead {
  return {
    state: row.state,
    lastEventSeq: toNumber(row.last_event_seq),
    missingSeqCount: toNumber(row.missing_seq_count),
  };
}

/**
 * Creates the lookup for a database: on SQLite one statement prepared once on the raw handle
 * (synchronous, microseconds); on PostgreSQL one unnamed parameterized query on the pool
 * (a named one would keep a plan made while the table was small).
 */
export function createRecordHeadLookup(database: Database): HeadLookup {
  if (database.kind === "sqlite") {
    const statement = prepareSqliteStatement(database.raw, selectHead("sqlite"));
    return (rolloutId, hostname) => {
      const row = statement.get({ rolloutId, hostname });
      return row === undefined ? undefined : toHead(row);
    };
  }
  const pool = database.pool;
  const statement = selectHead("postgres");
  return async (rolloutId, hostname) => {
    const row = (await queryPostgresStatement(pool, statement, { rolloutId, hostname })).rows[0];
    return row === undefined ? undefined : toHead(row);
  };
}
