// Rules for a host in Converged: terminal, the host is on its target and healthy.
import { illegal, type StateHandler, unreachable } from "./outcome.js";

/** Converged is terminal: every event is illegal (a stale one is a seq regression first). */
export const converged: StateHandler = (record, event) => {
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
