// The handler's cheap duplicate check: the record's dedup high-water mark, read without a
// transaction. Only a hint; the reducer re-checks under its lock.
import type BetterSqlite3 from "better-sqlite3";
import type { Database } from "./database.js";
import type { Queryable } from "./in-transaction.js";
import { toNumber } from "./to-number.js";

const statements = new WeakMap<BetterSqlite3.Database, BetterSqlite3.Statement>();

/**
 * The last applied seq of (rolloutId, hostname), 0 when none yet, undefined when there is
 * no such record. Given an open SQLite Database it uses one cached prepared statement on the
 * raw handle (a few microseconds); given Kysely (or a PostgreSQL Database) it is one query.
 */
export async function lastEventSeq(
  db: Database | Queryable,
  rolloutId: string,
  hostname: string,
): Promise<number | undefined> {
  if ("kind" in db) {
    if (db.kind === "sqlite") return sqliteLastEventSeq(db.raw, rolloutId, hostname);
    return lastEventSeq(db.db, rolloutId, hostname);
  }
  const row = await db
    .selectFrom("host_rollout_records")
    .select("last_event_seq")
    .where("rollout_id", "=", rolloutId)
    .where("hostname", "=", hostname)
    .executeTakeFirst();
  return row === undefined ? undefined : toNumber(row.last_event_seq);
}

function sqliteLastEventSeq(
  raw: BetterSqlite3.Database,
  rolloutId: string,
  hostname: string,
): number | undefined {
  let statement = statements.get(raw);
  if (statement === undefined) {
    statement = raw
      .prepare(
        "select last_event_seq from host_rollout_records where rollout_id = ? and hostname = ?",
      )
      .pluck();
    statements.set(raw, statement);
  }
  const seq = statement.get(rolloutId, hostname) as bigint | number | undefined;
  return seq === undefined ? undefined : toNumber(seq);
}
