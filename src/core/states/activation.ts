// The two outcomes of a switch that Activating and Deferred share (SPEC §4 says "as from
// Activating"), so the two states cannot drift apart.
import type { HealthFailurePolicy, HostRolloutRecord } from "../domain.js";
import type { ActivationCompleted, ActivationFailed } from "../event.js";
import type { StepApplied } from "../step.js";
import { applied } from "./outcome.js";

/** The new closure is live: soak starts with an empty probe map. */
export function activationCompleted(
  record: HostRolloutRecord,
  event: ActivationCompleted,
): StepApplied {
  return applied(record, event, {
    state: "Soaking",
    activationCompletedAt: event.completedAt,
    currentClosure: event.observedCurrentClosure,
    // Probe results from before this activation say nothing about the new closure.
    probes: [],
  });
}

/** The switch failed: the agent applies the rollout's policy, which the record keeps. */
export function activationFailed(
  record: HostRolloutRecord,
  event: ActivationFailed,
  policy: HealthFailurePolicy,
): StepApplied {
  return applied(record, event, {
    state: "Failed",
    activationFailedAt: event.failedAt,
    failedAt: event.failedAt,
    policyApplied: policy,
  });
}
