// Maps HostRolloutRecord to and from its host_rollout_records row; shared by the Kysely
// repositories and the raw hot paths so every reader sees records the same way.

import type { Kysely } from "kysely";
import type { HostRolloutRecord, ProbeState } from "../core/domain.js";
import type { Instant } from "../core/instant.js";
import type { HostRolloutRecordsTable, Schema } from "./schema.js";
import { toNumber } from "./to-number.js";

/** A host_rollout_records row as read back (integers may be bigint). */
export type RecordRow = {
  [K in keyof HostRolloutRecordsTable]: K extends "last_event_seq" | "missing_seq_count"
    ? number | bigint
    : HostRolloutRecordsTable[K];
};

/** The row for a record, columns in RECORD_COLUMNS order. */
export function recordToRow(r: HostRolloutRecord): RecordRow {
  return {
    rollout_id: r.rolloutId,
    hostname: r.hostname,
    channel: r.channel,
    state: r.state,
    target_closure: r.targetClosure,
    current_closure_at_dispatch: r.currentClosureAtDispatch,
    current_closure: r.currentClosure,
    reverted_to: r.revertedTo,
    dispatched_at: r.dispatchedAt,
    dispatch_acked_at: r.dispatchAckedAt,
    activation_started_at: r.activationStartedAt,
    activation_completed_at: r.activationCompletedAt,
    activation_failed_at: r.activationFailedAt,
    probe_observed_first_at: r.probeObservedFirstAt,
    probe_failure_first_at: r.probeFailureFirstAt,
    soak_due_at: r.soakDueAt,
    converged_at: r.convergedAt,
    failed_at: r.failedAt,
    policy_applied: r.policyApplied,
    reverted_at: r.revertedAt,
    probes: JSON.stringify(r.probes),
    last_event_seq: r.lastEventSeq,
    missing_seq_count: r.missingSeqCount,
    missing_seqs: JSON.stringify(r.missingSeqs),
  };
}

/** The record a row holds. */
export function rowToRecord(row: RecordRow): HostRolloutRecord {
  return {
    rolloutId: row.rollout_id,
    hostname: row.hostname,
    channel: row.channel,
    state: row.state,
    targetClosure: row.target_closure,
    currentClosureAtDispatch: row.current_closure_at_dispatch,
    currentClosure: row.current_closure,
    revertedTo: row.reverted_to,
    dispatchedAt: row.dispatched_at as Instant,
    dispatchAckedAt: row.dispatch_acked_at as Instant | null,
    activationStartedAt: row.activation_started_at as Instant | null,
    activationCompletedAt: row.activation_completed_at as Instant | null,
    activationFailedAt: row.activation_failed_at as Instant | null,
    probeObservedFirstAt: row.probe_observed_first_at as Instant | null,
    probeFailureFirstAt: row.probe_failure_first_at as Instant | null,
    soakDueAt: row.soak_due_at as Instant,
    convergedAt: row.converged_at as Instant | null,
    failedAt: row.failed_at as Instant | null,
    policyApplied: row.policy_applied,
    revertedAt: row.reverted_at as Instant | null,
    probes: JSON.parse(row.probes) as ProbeState[],
    lastEventSeq: toNumber(row.last_event_seq),
    missingSeqCount: toNumber(row.missing_seq_count),
    missingSeqs: JSON.parse(row.missing_seqs) as number[],
  };
}

/** Every column of host_rollout_records, in a fixed order for positional statements. */
export const RECORD_COLUMNS = [
  "rollout_id",
  "hostname",
  "channel",
  "state",
  "target_closure",
  "current_closure_at_dispatch",
  "current_closure",
  "reverted_to",
  "dispatched_at",
  "dispatch_acked_at",
  "activation_started_at",
  "activation_completed_at",
  "activation_failed_at",
  "probe_observed_first_at",
  "probe_failure_first_at",
  "soak_due_at",
  "converged_at",
  "failed_at",
  "policy_applied",
  "reverted_at",
  "probes",
  "last_event_seq",
  "missing_seq_count",
  "missing_seqs",
] as const satisfies readonly (keyof RecordRow)[];

/** The integer columns (the rest are text), for typed positional statements. */
export const INTEGER_RECORD_COLUMNS: ReadonlySet<string> = new Set([
  "last_event_seq",
  "missing_seq_count",
]);

/** The columns an applied event may change (everything but the key). */
export const MUTABLE_RECORD_COLUMNS = RECORD_COLUMNS.filter(
  (c) => c !== "rollout_id" && c !== "hostname",
);

/** Records with their rollout's failure policy: the writers' read, to narrow with where(). */
export function selectRecords(db: Kysely<Schema>) {
  return db
    .selectFrom("host_rollout_records as r")
    .innerJoin("rollouts as ro", "ro.id", "r.rollout_id")
    .selectAll("r")
    .select("ro.on_health_failure as policy");
}
