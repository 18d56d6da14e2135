// Rules for a host in Soaking: the new closure is live and its probes are being watched
// until the agent reports convergence or sustained failure.
import type { HostRolloutRecord } from "../domain.js";
import type { Converged } from "../event.js";
import type { StepApplied, StepRefused } from "../step.js";
import type { InvariantViolation } from "../step-error.js";
import { applied, illegal, type StateHandler, unreachable } from "./outcome.js";
import { failingEnforceProbes, probeFailures, upsertProbe } from "./probes.js";

/** Soaking accepts probe events, the agent's Failed verdict, and a Converged that holds. */
export const soaking: StateHandler = (record, event) => {
  switch (event.kind) {
    case "ProbeTopologyDeclared":
      // The declared topology lives in the event log only.
      return applied(record, event, {});
    case "ProbeObservedFirst":
      return applied(record, event, {
        probeObservedFirstAt: record.probeObservedFirstAt ?? event.observedAt,
      });
    case "ProbeResult":
      return applied(
        record,
        event,
        { probes: upsertProbe(record.probes, event) },
        probeFailures(event),
      );
    case "ProbeFailureFirst":
      // Only the first one counts: the agent's sustained-failure timer started there.
      return applied(record, event, {
        probeFailureFirstAt: record.probeFailureFirstAt ?? event.firstFailedAt,
      });
    case "Failed":
      return applied(record, event, {
        state: "Failed",
        failedAt: event.failedAt,
        policyApplied: event.policyApplied,
      });
    case "Converged":
      return converged(record, event);
    case "DispatchAck":
    case "ActivationStarted":
    case "ActivationCompleted":
    case "ActivationFailed":
    case "ActivationDeferred":
    case "RollbackComplete":
      return illegal(record, event);
    default:
      return unreachable(event, "event kind");
  }
};

function converged(record: HostRolloutRecord, event: Converged): StepApplied | StepRefused {
  const violation = convergedViolation(record, event);
  if (violation !== undefined) return { ok: false, error: violation };
  return applied(record, event, {
    state: "Converged",
    convergedAt: event.convergedAt,
    currentClosure: event.currentClosure,
  });
}

/**
 * The first Converged invariant that fails, in a fixed order so the same record and event
 * always report the same one.
 */
function convergedViolation(
  record: HostRolloutRecord,
  event: Converged,
): InvariantViolation | undefined {
  if (event.currentClosure !== record.targetClosure) {
    return {
      type: "invariantViolation",
      invariant: "closureMatchesTarget",
      expected: record.targetClosure,
      actual: event.currentClosure,
    };
  }
  // Instants are fixed-width UTC strings, so string order is time order.
  if (event.convergedAt < record.soakDueAt) {
    return {
      type: "invariantViolation",
      invariant: "soakElapsed",
      expected: `>= ${record.soakDueAt}`,
      actual: event.convergedAt,
    };
  }
  const failing = failingEnforceProbes(record.probes);
  if (failing.length > 0) {
    return {
      type: "invariantViolation",
      invariant: "enforceProbesPass",
      expected: "every enforce probe passing",
      actual: `failing: ${failing.join(", ")}`,
    };
  }
  return undefined;
}
