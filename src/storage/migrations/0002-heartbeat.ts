// Heartbeats (SPEC §8, issue 12): the hosts liveness table, the synthesized mark on event-log
// rows, and the seq-gap fields of host records.
import { type Kysely, sql } from "kysely";
import type { DialectKind } from "../schema.js";

/** Adds the hosts table and the new columns. */
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's Schema type.
export async function up(db: Kysely<any>, kind: DialectKind): Promise<void> {
  const text = kind === "postgres" ? sql`text collate "C"` : sql`text`;
  const int8 = kind === "postgres" ? "bigint" : "integer";
  await db.schema
    .createTable("hosts")
    .addColumn("hostname", text, (c) => c.primaryKey())
    .addColumn("last_heartbeat_at", text, (c) => c.notNull())
    .addColumn("last_heartbeat_received_at", text, (c) => c.notNull())
    .addColumn("current_closure", text)
    .execute();
  // Reachability is "received within 3 intervals": both listings and the gauge range over it.
  await db.schema
    .createIndex("hosts_received_at")
    .on("hosts")
    .columns(["last_heartbeat_received_at", "hostname"])
    .execute();
  await db.schema
    .alterTable("event_log")
    .addColumn("synthesized", kind === "postgres" ? "boolean" : "integer", (c) =>
      c.notNull().defaultTo(kind === "postgres" ? sql`false` : 0),
    )
    .execute();
  await db.schema
    .alterTable("host_rollout_records")
    .addColumn("missing_seq_count", int8, (c) =>
      c.notNull().defaultTo(0).check(sql`missing_seq_count >= 0`),
    )
    .execute();
  await db.schema
    .alterTable("host_rollout_records")
    .addColumn("missing_seqs", text, (c) => c.notNull().defaultTo("[]"))
    .execute();
}

/** Removes what `up` added. */
// biome-ignore lint/suspicious/noExplicitAny: see up.
export async function down(db: Kysely<any>, _kind: DialectKind): Promise<void> {
  await db.schema.alterTable("host_rollout_records").dropColumn("missing_seqs").execute();
  await db.schema.alterTable("host_rollout_records").dropColumn("missing_seq_count").execute();
  await db.schema.alterTable("event_log").dropColumn("synthesized").execute();
  await db.schema.dropTable("hosts").execute();
}
