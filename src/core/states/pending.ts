// Rules for a host in Pending: the rollout is open and the agent has not yet acknowledged it.
import { applied, illegal, type StateHandler, unreachable } from "./outcome.js";

/** Pending accepts only DispatchAck, which moves the host to Activating. */
export const pending: StateHandler = (record, event) => {
  switch (event.kind) {
    case "DispatchAck":
      return applied(record, event, {
        state: "Activating",
        currentClosureAtDispatch: event.currentClosureAtDispatch,
        dispatchAckedAt: event.receivedAt,
      });
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
