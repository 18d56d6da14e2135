// The seven host states as the page shows them (name, color, meaning), counts by state and
// the rollout status derived from them (SPEC §4, §5).
import { HostState } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";

/** A state's display name. */
export type StateName =
  | "Pending"
  | "Activating"
  | "Deferred"
  | "Soaking"
  | "Converged"
  | "Failed"
  | "Reverted";

/** How the page shows one state. */
export interface StateInfo {
  readonly value: HostState;
  readonly name: StateName;
  readonly color: string;
  readonly meaning: string;
}

/** In lifecycle order; the README's legend lists the same colors. */
export const STATES: readonly StateInfo[] = [
  {
    value: HostState.PENDING,
    name: "Pending",
    color: "#9ca3af",
    meaning: "dispatched, no DispatchAck yet",
  },
  {
    value: HostState.ACTIVATING,
    name: "Activating",
    color: "#3b82f6",
    meaning: "switching to the target closure",
  },
  {
    value: HostState.DEFERRED,
    name: "Deferred",
    color: "#a855f7",
    meaning: "switch staged for the next boot",
  },
  {
    value: HostState.SOAKING,
    name: "Soaking",
    color: "#14b8a6",
    meaning: "on the target, probes running until the soak is due",
  },
  {
    value: HostState.CONVERGED,
    name: "Converged",
    color: "#22c55e",
    meaning: "on the target, soaked, probes passing (done)",
  },
  {
    value: HostState.FAILED,
    name: "Failed",
    color: "#ef4444",
    meaning: "activation or health failed; a rollback may follow",
  },
  {
    value: HostState.REVERTED,
    name: "Reverted",
    color: "#f59e0b",
    meaning: "rolled back; the target is quarantined (done)",
  },
];

const byValue = new Map(STATES.map((s) => [s.value, s]));
const unknown: StateInfo = {
  value: HostState.UNSPECIFIED,
  name: "Pending",
  color: "#6b7280",
  meaning: "unknown",
};

/** The display info of a wire state. */
export function stateInfo(value: HostState): StateInfo {
  return byValue.get(value) ?? unknown;
}

/** Hosts per state. */
export type StateCounts = Record<StateName, number>;

/** All states at zero. */
export function emptyCounts(): StateCounts {
  return {
    Pending: 0,
    Activating: 0,
    Deferred: 0,
    Soaking: 0,
    Converged: 0,
    Failed: 0,
    Reverted: 0,
  };
}

/** What a rollout as a whole is doing, derived from its hosts' states. */
export type RolloutStatus =
  | "empty"
  | "pending"
  | "in progress"
  | "degraded"
  | "converged"
  | "finished with reverts"
  | "failed";

/**
 * Converged when every host is; failed when no host can still move and some failed;
 * degraded while hosts still move but some failed or reverted; pending before any ack.
 */
export function deriveStatus(counts: StateCounts): RolloutStatus {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const moving = counts.Pending + counts.Activating + counts.Deferred + counts.Soaking;
  const bad = counts.Failed + counts.Reverted;
  if (total === 0) return "empty";
  if (counts.Converged === total) return "converged";
  if (moving > 0) {
    if (bad > 0) return "degraded";
    return counts.Pending === total ? "pending" : "in progress";
  }
  return counts.Failed > 0 ? "failed" : "finished with reverts";
}
