// Effects: what an applied event asks the runtime to write besides the record itself.
import type { HostState, ProbeMode } from "./domain.js";
import type { RemoteEvent } from "./event.js";
import type { Instant } from "./instant.js";

/** Append the event (its payload) to the event log. Always the first effect. */
export interface AppendEventLog {
  readonly type: "appendEventLog";
  readonly event: RemoteEvent;
}

/** The host moved between two different states; `at` is the agent's time of the event. */
export interface RecordTransition {
  readonly type: "recordTransition";
  readonly from: HostState;
  readonly to: HostState;
  readonly at: Instant;
}

/** Quarantine a closure for a channel (first insert wins). */
export interface InsertQuarantine {
  readonly type: "insertQuarantine";
  readonly channel: string;
  readonly closure: string;
}

/**
 * A failing enforce-mode probe, or a failing enforce-mode control of a probe's sub-results,
 * for the probe-failure view. `controlId` is null for the probe itself.
 */
export interface RecordProbeFailure {
  readonly type: "recordProbeFailure";
  readonly probeName: string;
  readonly controlId: string | null;
  readonly framework: string | null;
  readonly mode: ProbeMode;
  readonly failureReason: string | null;
  readonly observedAt: Instant;
}

/**
 * Effects of one applied event, in this order: appendEventLog; recordTransition when the
 * state changed; insertQuarantine on RollbackComplete; recordProbeFailure per failure.
 */
export type Effect = AppendEventLog | RecordTransition | InsertQuarantine | RecordProbeFailure;
