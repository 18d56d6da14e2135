// Rules for a host in Reverted: terminal, the host rolled back to its previous closure.
import { illegal, type StateHandler, unreachable } from "./outcome.js";

/** Reverted is terminal: every event is illegal (a stale one is a seq regression first). */
export const reverted: StateHandler = (record, event) => {
  switch (event.kind) {
    case "DispatchAck":
    case "ActivationStarted":
    case "ActivationCompleted":
    case "ActivationFailed":
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
