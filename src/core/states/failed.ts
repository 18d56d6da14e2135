// Rules for a host in Failed: the agent applied its health-failure policy; under
// rollback-and-halt it will report the rollback, under halt it stays here.
import { applied, illegal, type StateHandler, unreachable } from "./outcome.js";

/**
 * Failed accepts only RollbackComplete, whatever the policy recorded: the agent is the
 * source of truth and did roll back. The target closure is quarantined for the channel.
 */
export const failed: StateHandler = (record, event) => {
  switch (event.kind) {
    case "RollbackComplete":
      return applied(
        record,
        event,
        {
          state: "Reverted",
          revertedAt: event.completedAt,
          revertedTo: event.revertedToClosure,
          currentClosure: event.revertedToClosure,
        },
        [{ type: "insertQuarantine", channel: record.channel, closure: record.targetClosure }],
      );
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
    case "Converged":
      return illegal(record, event);
    default:
      return unreachable(event, "event kind");
  }
};
