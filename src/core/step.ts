// The reducer's pure core: step(record, event, now, policy) (SPEC §4). Dispatches by state
// to one module per state; the switch is exhaustive so a new state cannot go unhandled.
import type { HealthFailurePolicy, HostRolloutRecord, HostState } from "./domain.js";
import type { Effect } from "./effect.js";
import type { RemoteEvent } from "./event.js";
import type { Instant } from "./instant.js";
import { fillGap, fillsGap } from "./seq-gaps.js";
import { activating } from "./states/activating.js";
import { converged } from "./states/converged.js";
import { deferred } from "./states/deferred.js";
import { failed } from "./states/failed.js";
import { type StateHandler, unreachable } from "./states/outcome.js";
import { pending } from "./states/pending.js";
import { reverted } from "./states/reverted.js";
import { soaking } from "./states/soaking.js";
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

/** Bounds the runtime enforces per record; absent means unbounded (as replay runs). */
export interface StepLimits {
  /** Most distinct probe names a record's probe map may hold. */
  readonly maxProbes: number;
}

/**
 * Applies one event to a record (or, for a late copy of a missing seq, only logs it). `now` is the control plane's clock (unused by today's
 * rules, kept so rules may use it without changing callers); `policy` is the rollout's
 * health-failure policy. Pure: the inputs are never modified.
 */
export function step(
  record: HostRolloutRecord,
  event: RemoteEvent,
  now: Instant,
  policy: HealthFailurePolicy,
  limits?: StepLimits,
): StepResult {
  // Before the state check, so a retried event is a duplicate even after it moved the host.
  if (event.seq <= record.lastEventSeq) {
    // A late copy of a skipped seq (SPEC §8) is logged so the history is whole; it cannot
    // move the host behind the events that already did, so only the gap closes.
    if (fillsGap(record, event.seq)) {
      return {
        ok: true,
        record: fillGap(record, event.seq),
        effects: [{ type: "appendEventLog", event }],
      };
    }
    return {
      ok: false,
      error: { type: "seqRegression", seq: event.seq, lastEventSeq: record.lastEventSeq },
    };
  }
  // Every ProbeResult rewrites the whole map, so an agent inventing names would make each of
  // its events cost more of the single writer; a known name is always accepted.
  if (
    limits !== undefined &&
    event.kind === "ProbeResult" &&
    record.state === "Soaking" &&
    record.probes.length >= limits.maxProbes &&
    !record.probes.some((p) => p.probeName === event.probeName)
  ) {
    return {
      ok: false,
      error: { type: "probeLimit", probeName: event.probeName, maxProbes: limits.maxProbes },
    };
  }
  return handlerFor(record.state)(record, event, now, policy);
}

function handlerFor(state: HostState): StateHandler {
  switch (state) {
    case "Pending":
      return pending;
    case "Activating":
      return activating;
    case "Deferred":
      return deferred;
    case "Soaking":
      return soaking;
    case "Converged":
      return converged;
    case "Failed":
      return failed;
    case "Reverted":
      return reverted;
    default:
      return unreachable(state, "host state");
  }
}
