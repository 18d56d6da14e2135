// Kysely table types for the store (SPEC §6). Instants are TEXT (fixed-width UTC, so they
// sort the same on both dialects); JSON is TEXT; 64-bit integers surface as number | bigint.
import type { ColumnType } from "kysely";
import type { HealthFailurePolicy, HostState, ProbeMode } from "../core/domain.js";

/**
 * An INTEGER / BIGINT column: better-sqlite3 with safe integers yields bigint, pg (with our
 * int8 parser) yields number. Convert with `toNumber` at the repository boundary.
 */
export type Int = ColumnType<number | bigint, number | bigint, number | bigint>;

/** An auto-assigned id (SQLite AUTOINCREMENT / PostgreSQL bigserial). */
export type GeneratedId = ColumnType<number | bigint, number | bigint | undefined, never>;

/** One opened rollout. */
export interface RolloutsTable {
  id: string;
  channel: string;
  on_health_failure: HealthFailurePolicy;
  soak_duration_secs: Int;
  /** CP clock when first opened (an Instant). */
  opened_at: string;
}

/** One (rollout, host) record: every field of HostRolloutRecord, snake_cased. */
export interface HostRolloutRecordsTable {
  rollout_id: string;
  hostname: string;
  channel: string;
  state: HostState;
  target_closure: string;
  current_closure_at_dispatch: string | null;
  current_closure: string | null;
  reverted_to: string | null;
  dispatched_at: string;
  dispatch_acked_at: string | null;
  activation_started_at: string | null;
  activation_completed_at: string | null;
  activation_failed_at: string | null;
  probe_observed_first_at: string | null;
  probe_failure_first_at: string | null;
  soak_due_at: string;
  converged_at: string | null;
  failed_at: string | null;
  policy_applied: HealthFailurePolicy | null;
  reverted_at: string | null;
  /** JSON array of ProbeState, sorted by probeName. */
  probes: string;
  last_event_seq: Int;
  /** Seqs skipped and not re-posted (migration 0002). */
  missing_seq_count: Int;
  /** JSON array of the lowest missing seqs (migration 0002). */
  missing_seqs: string;
}

/** The append-only audit trail and replay source. */
export interface EventLogTable {
  id: GeneratedId;
  /** CP clock at apply time (an Instant). */
  recorded_at: string;
  hostname: string;
  rollout_id: string;
  seq: Int;
  kind: string;
  /** The event's HTTP-binding JSON. */
  payload: string;
  signature: Uint8Array | null;
  /** 1 when the control plane synthesized the event from a heartbeat (migration 0002). */
  synthesized: ColumnType<number | boolean, number | boolean | undefined, never>;
  /** The exact text the signature was verified over (RFC 8785 JSON); null when unsigned. */
  signed_form: string | null;
  /** The signer's public key (SPKI DER) from its client certificate; null when unsigned. */
  signer_key: Uint8Array | null;
}

/** Closures that rolled back on a channel; the first insert wins. */
export interface QuarantinedClosuresTable {
  channel: string;
  closure: string;
  rollout_id: string;
  hostname: string;
  event_log_id: Int;
  quarantined_at: string;
}

/** Derived view: one row per failing enforce-mode probe or sub-result control. */
export interface ProbeFailuresTable {
  id: GeneratedId;
  event_log_id: Int;
  rollout_id: string;
  hostname: string;
  probe_name: string;
  control_id: string | null;
  framework: string | null;
  mode: ProbeMode;
  failure_reason: string | null;
  /** The agent's time of the probe run (an Instant). */
  observed_at: string;
}

/** Certificates of a machine issued before `not_before` are rejected. */
export interface CertRevocationsTable {
  machine_id: string;
  not_before: string;
  reason: string | null;
}

/** Host liveness from heartbeats (migration 0002); reachability is derived when read. */
export interface HostsTable {
  hostname: string;
  /** The agent's clock in the last heartbeat (an Instant). */
  last_heartbeat_at: string;
  /** CP clock when the last heartbeat was committed (an Instant). */
  last_heartbeat_received_at: string;
  /** The closure the last heartbeat reported; null when it reported none. */
  current_closure: string | null;
}

/** The refused-event log: one row per distinct refusal, counted (SPEC §10). */
export interface RefusedEventsTable {
  id: GeneratedId;
  first_refused_at: string;
  last_refused_at: string;
  count: Int;
  peer: string;
  /** '' when unknown. */
  hostname: string;
  /** '' when unknown. */
  rollout_id: string;
  /** 0 when unknown. */
  seq: Int;
  /** '' when unknown. */
  kind: string;
  code: string;
  reason: string;
  message: string;
  field: string | null;
  protocol: string;
  /** The request as received (binding JSON, or the proto request as proto JSON). */
  request: string;
}

/** Which SQL engine a database runs on. */
export type DialectKind = "sqlite" | "postgres";

/** The whole database as Kysely sees it. */
export interface Schema {
  rollouts: RolloutsTable;
  host_rollout_records: HostRolloutRecordsTable;
  event_log: EventLogTable;
  quarantined_closures: QuarantinedClosuresTable;
  probe_failures: ProbeFailuresTable;
  cert_revocations: CertRevocationsTable;
  hosts: HostsTable;
  refused_events: RefusedEventsTable;
}
