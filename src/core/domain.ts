// The host-rollout domain's value types (SPEC §3.1, §4): states, enums, probes and the record.
import type { Instant } from "./instant.js";

/** The seven states of a host in a rollout. */
export const HOST_STATES = [
  "Pending",
  "Activating",
  "Deferred",
  "Soaking",
  "Converged",
  "Failed",
  "Reverted",
] as const;
export type HostState = (typeof HOST_STATES)[number];

/** How a probe's result counts toward health. */
export const PROBE_MODES = ["enforce", "observe", "disabled"] as const;
export type ProbeMode = (typeof PROBE_MODES)[number];

/** The result of one probe run. */
export const PROBE_STATUSES = ["pass", "fail"] as const;
export type ProbeStatus = (typeof PROBE_STATUSES)[number];

/** What a host does when it stays unhealthy. */
export const HEALTH_FAILURE_POLICIES = ["halt", "rollback-and-halt"] as const;
export type HealthFailurePolicy = (typeof HEALTH_FAILURE_POLICIES)[number];

/** The component that forced an activation to be deferred to the next boot. */
export const ACTIVATION_COMPONENTS = ["dbus", "systemd", "kernel", "init"] as const;
export type ActivationComponent = (typeof ACTIVATION_COMPONENTS)[number];

/** The last known state of one probe, kept in the record's probe list. */
export interface ProbeState {
  readonly probeName: string;
  readonly mode: ProbeMode;
  readonly status: ProbeStatus;
  readonly lastObservedAt: Instant;
  readonly lastPassAt: Instant | null;
  readonly failureReason: string | null;
}

/**
 * Where one host stands in one rollout. Absent values are `null` (never undefined) so a
 * record compares, serializes and stores the same way everywhere.
 */
export interface HostRolloutRecord {
  readonly rolloutId: string;
  readonly hostname: string;
  readonly channel: string;
  readonly state: HostState;
  readonly targetClosure: string;
  readonly currentClosureAtDispatch: string | null;
  readonly currentClosure: string | null;
  readonly revertedTo: string | null;
  /** Control-plane clock at open. */
  readonly dispatchedAt: Instant;
  readonly dispatchAckedAt: Instant | null;
  readonly activationStartedAt: Instant | null;
  readonly activationCompletedAt: Instant | null;
  readonly activationFailedAt: Instant | null;
  readonly probeObservedFirstAt: Instant | null;
  readonly probeFailureFirstAt: Instant | null;
  /** dispatchedAt + the rollout's soak duration. */
  readonly soakDueAt: Instant;
  readonly convergedAt: Instant | null;
  readonly failedAt: Instant | null;
  readonly policyApplied: HealthFailurePolicy | null;
  readonly revertedAt: Instant | null;
  /** Sorted by probeName; at most one entry per name. */
  readonly probes: readonly ProbeState[];
  /** The dedup high-water mark: the seq of the last applied event (0 when none). */
  readonly lastEventSeq: number;
  /** Seqs skipped by applied events and not re-posted since (SPEC §8 seq gaps). */
  readonly missingSeqCount: number;
  /** The lowest of those seqs, ascending, at most MAX_LISTED_MISSING_SEQS of them. */
  readonly missingSeqs: readonly number[];
}
