// The initial schema (SPEC §6, issue 4). Value lists in CHECKs are spelled out rather than
// imported from the core so this migration means the same thing forever.
import { type Kysely, type RawBuilder, sql } from "kysely";
import type { DialectKind } from "../schema.js";

/** Column types that differ between the dialects. */
function types(kind: DialectKind): {
  text: RawBuilder<unknown>;
  int8: "bigint" | "integer";
  blob: "bytea" | "blob";
} {
  return {
    // PostgreSQL's default collation (often a locale) orders text differently from SQLite's
    // bytewise BINARY; "C" makes keyset pagination and listings order identically.
    text: kind === "postgres" ? sql`text collate "C"` : sql`text`,
    int8: kind === "postgres" ? "bigint" : "integer",
    blob: kind === "postgres" ? "bytea" : "blob",
  };
}

const STATES = sql`('Pending', 'Activating', 'Deferred', 'Soaking', 'Converged', 'Failed', 'Reverted')`;
const POLICIES = sql`('halt', 'rollback-and-halt')`;
const MODES = sql`('enforce', 'observe', 'disabled')`;

/** Creates every table and index. */
// biome-ignore lint/suspicious/noExplicitAny: migrations must not depend on today's Schema type.
export async function up(db: Kysely<any>, kind: DialectKind): Promise<void> {
  const { text, int8, blob } = types(kind);
  // A global, never-reused id: AUTOINCREMENT on SQLite (plain rowids may be reused after
  // deletes), bigserial on PostgreSQL.
  const idType = kind === "postgres" ? "bigserial" : "integer";
  const autoIncrement = kind === "sqlite";

  await db.schema
    .createTable("rollouts")
    .addColumn("id", text, (c) => c.primaryKey())
    .addColumn("channel", text, (c) => c.notNull())
    .addColumn("on_health_failure", text, (c) =>
      c.notNull().check(sql`on_health_failure in ${POLICIES}`),
    )
    .addColumn("soak_duration_secs", int8, (c) => c.notNull().check(sql`soak_duration_secs >= 0`))
    .addColumn("opened_at", text, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("host_rollout_records")
    .addColumn("rollout_id", text, (c) => c.notNull().references("rollouts.id"))
    .addColumn("hostname", text, (c) => c.notNull())
    .addColumn("channel", text, (c) => c.notNull())
    .addColumn("state", text, (c) => c.notNull().check(sql`state in ${STATES}`))
    .addColumn("target_closure", text, (c) => c.notNull())
    .addColumn("current_closure_at_dispatch", text)
    .addColumn("current_closure", text)
    .addColumn("reverted_to", text)
    .addColumn("dispatched_at", text, (c) => c.notNull())
    .addColumn("dispatch_acked_at", text)
    .addColumn("activation_started_at", text)
    .addColumn("activation_completed_at", text)
    .addColumn("activation_failed_at", text)
    .addColumn("probe_observed_first_at", text)
    .addColumn("probe_failure_first_at", text)
    .addColumn("soak_due_at", text, (c) => c.notNull())
    .addColumn("converged_at", text)
    .addColumn("failed_at", text)
    .addColumn("policy_applied", text, (c) =>
      c.check(sql`policy_applied is null or policy_applied in ${POLICIES}`),
    )
    .addColumn("reverted_at", text)
    .addColumn("probes", text, (c) => c.notNull().defaultTo("[]"))
    .addColumn("last_event_seq", int8, (c) =>
      c.notNull().defaultTo(0).check(sql`last_event_seq >= 0`),
    )
    .addPrimaryKeyConstraint("host_rollout_records_pk", ["rollout_id", "hostname"])
    .execute();
  await db.schema
    .createIndex("host_rollout_records_hostname")
    .on("host_rollout_records")
    .column("hostname")
    .execute();
  await db.schema
    .createIndex("host_rollout_records_rollout_state")
    .on("host_rollout_records")
    .columns(["rollout_id", "state"])
    .execute();

  // No foreign keys on event_log, quarantined_closures or probe_failures: applyBatch writes
  // them in the transaction that holds the record, and records are never deleted, so they
  // would check nothing the write path does not already guarantee, at a price: on
  // PostgreSQL the per-row RI check made a 512-event insert 6x slower (0.7 s -> 4.2 s for
  // 32 batches). Exactly-once is kept by the unique (rollout_id, hostname, seq) below.
  await db.schema
    .createTable("event_log")
    .addColumn("id", idType, (c) =>
      autoIncrement ? c.primaryKey().autoIncrement() : c.primaryKey(),
    )
    .addColumn("recorded_at", text, (c) => c.notNull())
    .addColumn("hostname", text, (c) => c.notNull())
    .addColumn("rollout_id", text, (c) => c.notNull())
    .addColumn("seq", int8, (c) => c.notNull().check(sql`seq > 0`))
    .addColumn("kind", text, (c) => c.notNull())
    .addColumn("payload", text, (c) => c.notNull())
    .addColumn("signature", blob)
    .execute();
  await db.schema
    .createIndex("event_log_rollout_id")
    .on("event_log")
    .columns(["rollout_id", "id"])
    .execute();
  await db.schema
    .createIndex("event_log_hostname_id")
    .on("event_log")
    .columns(["hostname", "id"])
    .execute();
  // Exactly-once as a constraint, not only as a property of the code: a second row for one
  // (rollout, host, seq) cannot exist whatever a writer does. It also serves replay reads.
  await db.schema
    .createIndex("event_log_record_seq")
    .on("event_log")
    .columns(["rollout_id", "hostname", "seq"])
    .unique()
    .execute();

  await db.schema
    .createTable("quarantined_closures")
    .addColumn("channel", text, (c) => c.notNull())
    .addColumn("closure", text, (c) => c.notNull())
    .addColumn("rollout_id", text, (c) => c.notNull())
    .addColumn("hostname", text, (c) => c.notNull())
    .addColumn("event_log_id", int8, (c) => c.notNull())
    .addColumn("quarantined_at", text, (c) => c.notNull())
    .addPrimaryKeyConstraint("quarantined_closures_pk", ["channel", "closure"])
    .execute();

  await db.schema
    .createTable("probe_failures")
    .addColumn("id", idType, (c) => c.primaryKey())
    .addColumn("event_log_id", int8, (c) => c.notNull())
    .addColumn("rollout_id", text, (c) => c.notNull())
    .addColumn("hostname", text, (c) => c.notNull())
    .addColumn("probe_name", text, (c) => c.notNull())
    .addColumn("control_id", text)
    .addColumn("framework", text)
    .addColumn("mode", text, (c) => c.notNull().check(sql`mode in ${MODES}`))
    .addColumn("failure_reason", text)
    .addColumn("observed_at", text, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("probe_failures_rollout_id")
    .on("probe_failures")
    .columns(["rollout_id", "id"])
    .execute();

  await db.schema
    .createTable("cert_revocations")
    .addColumn("machine_id", text, (c) => c.primaryKey())
    .addColumn("not_before", text, (c) => c.notNull())
    .addColumn("reason", text)
    .execute();
}

/** Drops everything `up` created, children first. */
// biome-ignore lint/suspicious/noExplicitAny: see up.
export async function down(db: Kysely<any>, _kind: DialectKind): Promise<void> {
  for (const table of [
    "cert_revocations",
    "probe_failures",
    "quarantined_closures",
    "event_log",
    "host_rollout_records",
    "rollouts",
  ]) {
    await db.schema.dropTable(table).execute();
  }
}
