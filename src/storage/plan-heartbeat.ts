// A heartbeat inside the reducer's batch (SPEC §8 steps 2-4): recovery events synthesized by
// the pure core run through the same step() as an agent's and are logged as synthesized; the
// reply's replay-from and bootstrap snapshots reflect the records after that.
import type { HealthFailurePolicy, HostRolloutRecord } from "../core/domain.js";
import type { RemoteEvent } from "../core/event.js";
import { bootstrapRecords, type Heartbeat, recoveryEvents, replayFrom } from "../core/heartbeat.js";
import type { Instant } from "../core/instant.js";
import type { PlannedApplied, PlannedOutcome, Transition } from "./plan-batch.js";

/** A heartbeat to commit, as the handler accepted it. */
export interface HeartbeatItem {
  readonly heartbeat: Heartbeat;
}

/** A host's liveness row as a batch writes it. */
export interface HostLiveness {
  readonly hostname: string;
  /** The agent's clock in the heartbeat. */
  readonly lastHeartbeatAt: Instant;
  /** The control plane's clock at commit. */
  readonly receivedAt: Instant;
  readonly currentClosure: string | null;
}

/** One event the control plane synthesized and applied. */
export interface SynthesizedEvent {
  readonly rolloutId: string;
  readonly hostname: string;
  readonly event: RemoteEvent;
  /** The record right after the event. */
  readonly record: HostRolloutRecord;
  readonly transition: Transition | null;
  readonly eventLogId: number;
}

/** What a committed heartbeat did and what its reply carries. */
export interface HeartbeatOutcome {
  readonly type: "heartbeat";
  /** Synthesized events in the order they were applied. */
  readonly synthesized: readonly SynthesizedEvent[];
  /** Snapshots for the reply (only when the heartbeat named no rollout). */
  readonly bootstrap: readonly HostRolloutRecord[];
  /** The seq the agent should replay the named rollout from, or null. */
  readonly replayFrom: number | null;
  /** The host's liveness as committed. */
  readonly liveness: HostLiveness;
}

/** A heartbeat outcome whose event-log ids are known only once the rows are written. */
export type PlannedHeartbeat = Omit<HeartbeatOutcome, "synthesized"> & {
  readonly synthesized: readonly (Omit<SynthesizedEvent, "eventLogId"> & {
    readonly eventIndex: number;
  })[];
};

/** A record being planned, with its rollout's policy; `record` moves as events apply. */
export interface PlanEntry {
  record: HostRolloutRecord;
  readonly policy: HealthFailurePolicy;
}

/** What planBatch lends a heartbeat: its host's records and the one way to apply an event. */
export interface PlanContext {
  /** Every record of the host, loaded under the batch's lock, as the batch left them so far. */
  hostEntries(hostname: string): PlanEntry[];
  /** Applies one event to an entry through step(), exactly as an agent's event. */
  apply(
    entry: PlanEntry,
    event: RemoteEvent,
    signature: Uint8Array | null,
    synthesized: boolean,
  ): PlannedOutcome;
}

/**
 * Plans one heartbeat: for each record of the host, the recovery events the core derives,
 * applied in order (a refusal, which the rules never produce, stops that record's sequence);
 * then replay-from for the named rollout and the bootstrap snapshots.
 */
export function planHeartbeat(
  heartbeat: Heartbeat,
  liveness: HostLiveness,
  context: PlanContext,
): PlannedHeartbeat {
  const entries = context.hostEntries(heartbeat.hostname);
  const synthesized: PlannedHeartbeat["synthesized"][number][] = [];
  for (const entry of entries) {
    for (const event of recoveryEvents(entry.record, heartbeat)) {
      const outcome = context.apply(entry, event, null, true);
      if (outcome.type !== "applied") break;
      const { record, transition, eventIndex } = outcome as PlannedApplied;
      synthesized.push({
        rolloutId: record.rolloutId,
        hostname: record.hostname,
        event,
        record,
        transition,
        eventIndex,
      });
    }
  }
  const records = entries.map((e) => e.record);
  const named =
    heartbeat.rolloutId === null
      ? undefined
      : records.find((r) => r.rolloutId === heartbeat.rolloutId);
  return {
    type: "heartbeat",
    synthesized,
    bootstrap: bootstrapRecords(records, heartbeat),
    replayFrom: named === undefined ? null : replayFrom(named, heartbeat),
    liveness,
  };
}
