// The refused-event log (SPEC §10) and what each signed event's signature covers (SPEC §9):
// the canonical bytes that were verified and the signer's public key, kept for audit.
import { type Kysely, sql } from "kysely";
import type { DialectKind } from "../schema.js";

/** Creates refused_events and adds the signed form and signer key to event_log. */
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's Schema type.
export async function up(db: Kysely<any>, kind: DialectKind): Promise<void> {
  const text = kind === "postgres" ? sql`text collate "C"` : sql`text`;
  const int8 = kind === "postgres" ? "bigint" : "integer";
  const idType = kind === "postgres" ? "bigserial" : "integer";
  await db.schema
    .createTable("refused_events")
    .addColumn("id", idType, (c) =>
      kind === "sqlite" ? c.primaryKey().autoIncrement() : c.primaryKey(),
    )
    .addColumn("first_refused_at", text, (c) => c.notNull())
    .addColumn("last_refused_at", text, (c) => c.notNull())
    .addColumn("count", int8, (c) => c.notNull().defaultTo(1).check(sql`count >= 1`))
    .addColumn("peer", text, (c) => c.notNull())
    // What the request named, '' / 0 when it could not be read: the dedup key below must
    // not hold NULLs (NULLs never conflict, so retries would each add a row).
    .addColumn("hostname", text, (c) => c.notNull())
    .addColumn("rollout_id", text, (c) => c.notNull())
    .addColumn("seq", int8, (c) => c.notNull().check(sql`seq >= 0`))
    .addColumn("kind", text, (c) => c.notNull())
    .addColumn("code", text, (c) => c.notNull())
    .addColumn("reason", text, (c) => c.notNull())
    .addColumn("message", text, (c) => c.notNull())
    .addColumn("field", text)
    .addColumn("protocol", text, (c) => c.notNull())
    .addColumn("request", text, (c) => c.notNull())
    .execute();
  // An agent retries a refused event (the original agent forever): one row per distinct
  // refusal, with a count, so retries cannot grow the table.
  await db.schema
    .createIndex("refused_events_dedup")
    .on("refused_events")
    .columns(["hostname", "rollout_id", "seq", "kind", "reason"])
    .unique()
    .execute();
  await db.schema
    .createIndex("refused_events_rollout_id")
    .on("refused_events")
    .columns(["rollout_id", "id"])
    .execute();
  await db.schema
    .createIndex("refused_events_hostname_id")
    .on("refused_events")
    .columns(["hostname", "id"])
    .execute();

  await db.schema.alterTable("event_log").addColumn("signed_form", text).execute();
  await db.schema
    .alterTable("event_log")
    .addColumn("signer_key", kind === "postgres" ? "bytea" : "blob")
    .execute();
  await db.schema
    .createIndex("probe_failures_hostname_id")
    .on("probe_failures")
    .columns(["hostname", "id"])
    .execute();
}

/** Drops what `up` added. */
// biome-ignore lint/suspicious/noExplicitAny: see up.
export async function down(db: Kysely<any>, _kind: DialectKind): Promise<void> {
  await db.schema.dropIndex("probe_failures_hostname_id").execute();
  await db.schema.alterTable("event_log").dropColumn("signer_key").execute();
  await db.schema.alterTable("event_log").dropColumn("signed_form").execute();
  await db.schema.dropTable("refused_events").execute();
}
