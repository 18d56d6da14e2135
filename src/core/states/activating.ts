// Rules for a host in Activating: the agent acknowledged the dispatch and is switching.
import { activationCompleted, activationFailed } from "./activation.js";
import { applied, illegal, type StateHandler, unreachable } from "./outcome.js";

/** Activating accepts the switch's progress and its three possible outcomes. */
export const activating: StateHandler = (record, event, _now, policy) => {
  switch (event.kind) {
    case "ActivationStarted":
      return applied(record, event, { activationStartedAt: event.startedAt });
    case "ActivationCompleted":
      return activationCompleted(record, event);
    case "ActivationDeferred":
      // The deferral time and component live in the event log only.
      return applied(record, event, { state: "Deferred" });
    case "ActivationFailed":
      return activationFailed(record, event, policy);
    case "DispatchAck":
    case "ProbeTopologyDeclared":
    case "ProbeObservedFirst":
    case "ProbeResult":
    case "ProbeFailureFirst":
    case "Failed":
    case "RollbackComplete":
    case "Converged":
      return illegal(record, event);
    default:
      return unreachable(event, "event kind");
  }
};
