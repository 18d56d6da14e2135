// What a heartbeat means for a host's records (SPEC §8 steps 2-4), as pure functions: the
// events the control plane synthesizes to heal a record the agent can no longer report, the
// seq an agent is asked to replay from, and which records a bootstrap reply carries.
import type { HostRolloutRecord, HostState } from "./domain.js";
import type { RemoteEvent } from "./event.js";
import type { Instant } from "./instant.js";

/** A host's heartbeat as the domain sees it. */
export interface Heartbeat {
  readonly hostname: string;
  /** The rollout the agent names; existing agents never do. */
  readonly rolloutId: string | null;
  /** The closure the host runs now, when reported. */
  readonly currentClosure: string | null;
  /** The agent's clock. */
  readonly at: Instant;
}

/** States in which a record is still in flight (a heartbeat may heal it, a bootstrap lists it). */
export const ACTIVE_STATES: readonly HostState[] = [
  "Pending",
  "Activating",
  "Deferred",
  "Soaking",
  "Failed",
];

/** Whether a record is still in flight. */
export function isActive(record: HostRolloutRecord): boolean {
  return ACTIVE_STATES.includes(record.state);
}

/**
 * The events to synthesize for one record from a heartbeat, in order, with the seqs the agent
 * would have used (last+1, last+2, ...), so the agent's own late copy is a duplicate:
 * - Activating or Deferred on target (agent restarted mid-activation, deferred host rebooted):
 *   ActivationCompleted;
 * - Pending on target (the control plane lost its database while the host converged):
 *   DispatchAck (closure at dispatch unknown: ""), ActivationCompleted, then Converged at
 *   max(at, soakDueAt), so the soak invariant holds;
 * - Failed on the closure it ran at dispatch (the agent rolled back and could not say so):
 *   RollbackComplete.
 * Nothing otherwise, and nothing when the heartbeat reports no closure.
 */
export function recoveryEvents(record: HostRolloutRecord, heartbeat: Heartbeat): RemoteEvent[] {
  const current = heartbeat.currentClosure;
  if (current === null || heartbeat.hostname !== record.hostname) return [];
  const { at } = heartbeat;
  const seq = record.lastEventSeq;
  const completed = (s: number): RemoteEvent => ({
    kind: "ActivationCompleted",
    observedCurrentClosure: current,
    exitCode: 0,
    completedAt: at,
    seq: s,
  });
  switch (record.state) {
    case "Activating":
    case "Deferred":
      return record.targetClosure === current ? [completed(seq + 1)] : [];
    case "Pending":
      if (record.targetClosure !== current) return [];
      return [
        { kind: "DispatchAck", currentClosureAtDispatch: "", receivedAt: at, seq: seq + 1 },
        completed(seq + 2),
        {
          kind: "Converged",
          convergedAt: later(at, record.soakDueAt),
          currentClosure: current,
          seq: seq + 3,
        },
      ];
    case "Failed":
      return record.currentClosureAtDispatch === current
        ? [
            {
              kind: "RollbackComplete",
              revertedToClosure: current,
              exitCode: 0,
              completedAt: at,
              seq: seq + 1,
            },
          ]
        : [];
    case "Soaking":
    case "Converged":
    case "Reverted":
      return [];
  }
}

/** The later of two instants (fixed-width UTC strings: string order is time order). */
function later(a: Instant, b: Instant): Instant {
  if (a < b) return b;
  return a;
}

/**
 * The seq to ask the agent to replay from for the rollout its heartbeat names, given that
 * rollout's record after recovery, or null for no replay. The agent re-posts every event
 * above it and dedup makes that safe:
 * - the record is missing seqs: from just below the lowest listed one, so the late copies
 *   fill the gaps;
 * - the heartbeat carries a closure and the record's current closure is unset or differs:
 *   from the record's last seq (SPEC §8 step 3).
 */
export function replayFrom(record: HostRolloutRecord, heartbeat: Heartbeat): number | null {
  if (heartbeat.rolloutId !== record.rolloutId || heartbeat.hostname !== record.hostname) {
    return null;
  }
  const lowestMissing = record.missingSeqs[0];
  if (lowestMissing !== undefined) return lowestMissing - 1;
  const current = heartbeat.currentClosure;
  if (current !== null && record.currentClosure !== current) return record.lastEventSeq;
  return null;
}

/**
 * The records a heartbeat's reply carries as bootstrap snapshots: none when it names a
 * rollout; otherwise every record of the host that is active after recovery, by rollout id.
 */
export function bootstrapRecords(
  records: readonly HostRolloutRecord[],
  heartbeat: Heartbeat,
): HostRolloutRecord[] {
  if (heartbeat.rolloutId !== null) return [];
  return records
    .filter((r) => r.hostname === heartbeat.hostname && isActive(r))
    .sort((a, b) => (a.rolloutId < b.rolloutId ? -1 : a.rolloutId > b.rolloutId ? 1 : 0));
}
