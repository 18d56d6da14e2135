// The reducer's pure core: step(record, event, now, policy) (SPEC §4). Dispatches by state
// to one module per state; the switch is exhaustive so a new state cannot go unhandled.
import type { HealthFailurePolicy, HostRolloutRecord } from "./domain.js";
import type { Effect } from "./effect.js";
import type { RemoteEvent } from "./event.js";
import type { Instant } from "./instant.js";
import type { StepError } from "./step-error.js";

/** An applied event: the new record and the effects to write with it, in order. */
export interface StepApplied {
  readonly ok: true;
  readonly record: HostRolloutRecord;
  readonly effects: readonly Effect[];
}

/** A refused event. */
export interface StepRefused {
  readonly ok: false;
  readonly error: StepError;
}

export type StepResult = StepApplied | StepRefused;

/**
 * Applies one event to a record. `now` is the control plane's clock (unused by today's
 * rules, kept so rules may use it without changing callers); `policy` is the rollout's
 * health-failure policy.
 */
export declare function step(
  record: HostRolloutRecord,
  event: RemoteEvent,
  now: Instant,
  policy: HealthFailurePolicy,
): StepResult;
