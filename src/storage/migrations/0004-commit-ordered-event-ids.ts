// Makes event-log ids commit-ordered on PostgreSQL and announces every commit of new events
// (issue 10): what lets a follower page the log by id and replicas share one watch.
import { type Kysely, sql } from "kysely";
import type { DialectKind } from "../schema.js";

// bigserial hands out ids when rows are inserted, not when they commit: a batch that took id
// 10 may commit after one that took id 11, and a reader paging "id > 11" would never see 10.
// A statement trigger takes a transaction-level advisory lock before any row of the insert
// gets its id, so the next writer's ids are allocated only after this transaction has
// committed (and become visible) or rolled back: allocation order is commit order, for every
// writer of event_log, whatever code path it takes. The key is a tag ("nxfc") in the high
// 32 bits and the table's oid in the low ones: one lock per event_log (per schema), unlikely
// to collide with another application's advisory locks. The same trigger queues a NOTIFY
// (delivered at commit, folded to one per transaction) naming the schema, which is what the
// replicas' LISTEN connections wait for. SQLite needs neither: its writers are serialized
// by the database lock, and replicas cannot share a SQLite file.
const FUNCTION = sql`
  create function nixfleet_event_log_commit_order() returns trigger
  language plpgsql as $$
  begin
    perform pg_advisory_xact_lock((1853384291::bigint << 32) | tg_relid::bigint);
    perform pg_notify('nixfleet_cp_event_log', tg_table_schema);
    return null;
  end
  $$`;

const TRIGGER = sql`
  create trigger event_log_commit_order before insert on event_log
  for each statement execute function nixfleet_event_log_commit_order()`;

/** Adds the trigger on PostgreSQL; nothing on SQLite. */
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's Schema type.
export async function up(db: Kysely<any>, kind: DialectKind): Promise<void> {
  if (kind !== "postgres") return;
  await FUNCTION.execute(db);
  await TRIGGER.execute(db);
}

/** Removes what `up` added. */
// biome-ignore lint/suspicious/noExplicitAny: see up.
export async function down(db: Kysely<any>, kind: DialectKind): Promise<void> {
  if (kind !== "postgres") return;
  await sql`drop trigger event_log_commit_order on event_log`.execute(db);
  await sql`drop function nixfleet_event_log_commit_order()`.execute(db);
}
