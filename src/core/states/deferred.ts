// Rules for a host in Deferred: the closure is staged for the next boot.
import { activationCompleted, activationFailed } from "./activation.js";
import { illegal, type StateHandler, unreachable } from "./outcome.js";

/** Deferred waits for the reboot's outcome: completed or failed, exactly as from Activating. */
export const deferred: StateHandler = (record, event, _now, policy) => {
  switch (event.kind) {
    case "ActivationCompleted":
      return activationCompleted(record, event);
    case "ActivationFailed":
      return activationFailed(record, event, policy);
    case "DispatchAck":
    case "ActivationStarted":
    case "ActivationDeferred":
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
