// The handler's cheap duplicate check: a record's state and dedup high-water mark, read
// outside the reducer's transaction. Only a hint; the reducer re-checks under its lock.
import type { HostState } from "../core/domain.js";
import { compileStatement, statementBuilder } from "./compiled-statement.js";
import type { Database } from "./database.js";
import { queryPostgresStatement } from "./postgres-statement.js";
import { type ColumnArrays, type ColumnTypes, unnestRows } from "./postgres-unnest.js";
import type { DialectKind, HostRolloutRecordsTable } from "./schema.js";
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

const KEY_TYPES = {
  rollout_id: "text",
  hostname: "text",
} as const satisfies ColumnTypes<HostRolloutRecordsTable>;

// PostgreSQL: the heads of many records in one query, one array per key column.
function selectHeads() {
  const db = statementBuilder("postgres");
  return compileStatement((p: ColumnArrays<typeof KEY_TYPES>) =>
    db
      .selectFrom("host_rollout_records as r")
      .select(["r.rollout_id", "r.hostname", "r.state", "r.last_event_seq", "r.missing_seq_count"])
      .where((eb) =>
        eb(
          eb.refTuple("r.rollout_id", "r.hostname"),
          "in",
          eb
            .selectFrom(unnestRows("k", KEY_TYPES, p))
            .select(["k.rollout_id", "k.hostname"])
            .$asTuple("rollout_id", "hostname"),
        ),
      ),
  );
}

/** Keys asked in one turn of the event loop per query, at most. */
const MAX_KEYS_PER_QUERY = 1000;

interface Asked {
  readonly rolloutId: string;
  readonly hostname: string;
  readonly waiters: { resolve(head: RecordHead | undefined): void; reject(e: unknown): void }[];
}

/**
 * Creates the lookup for a database: on SQLite one statement prepared once on the raw handle
 * (synchronous, microseconds); on PostgreSQL the keys asked during one turn of the event loop
 * are read in one unnamed parameterized query on the pool (a named one would keep a plan made
 * while the table was small). One query per request made the pool's ten connections the
 * ingest bound: every request queued for a round trip of its own before it could be batched.
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
  const statement = selectHeads();
  // Keyed by rollout then host: two requests for one record share the read.
  let asked = new Map<string, Map<string, Asked>>();

  function flush(): void {
    const batch = [...asked.values()].flatMap((hosts) => [...hosts.values()]);
    asked = new Map();
    for (let i = 0; i < batch.length; i += MAX_KEYS_PER_QUERY) {
      void read(batch.slice(i, i + MAX_KEYS_PER_QUERY));
    }
  }

  async function read(keys: Asked[]): Promise<void> {
    try {
      const { rows } = await queryPostgresStatement(pool, statement, {
        rollout_id: keys.map((k) => k.rolloutId),
        hostname: keys.map((k) => k.hostname),
      });
      const found = new Map<string, Map<string, RecordHead>>();
      for (const row of rows) {
        const hosts = found.get(row.rollout_id) ?? new Map<string, RecordHead>();
        found.set(row.rollout_id, hosts);
        hosts.set(row.hostname, toHead(row));
      }
      for (const k of keys) {
        const head = found.get(k.rolloutId)?.get(k.hostname);
        for (const w of k.waiters) w.resolve(head);
      }
    } catch (error) {
      for (const k of keys) for (const w of k.waiters) w.reject(error);
    }
  }

  return (rolloutId, hostname) =>
    new Promise<RecordHead | undefined>((resolve, reject) => {
      // The first key of a turn schedules the read of all that turn's keys.
      if (asked.size === 0) setImmediate(flush);
      const hosts = asked.get(rolloutId) ?? new Map<string, Asked>();
      asked.set(rolloutId, hosts);
      let entry = hosts.get(hostname);
      if (entry === undefined) {
        entry = { rolloutId, hostname, waiters: [] };
        hosts.set(hostname, entry);
      }
      entry.waiters.push({ resolve, reject });
    });
}
