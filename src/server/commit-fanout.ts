// What happens after a batch commits, before its requests are answered: the handler's head
// cache learns the new heads, watchers get the state changes (agents' and synthesized ones
// alike), the liveness monitor hears the heartbeats, and the event metrics count gaps and
// synthesized events.

import type { HostRolloutRecord } from "../core/domain.js";
import type { LivenessMonitor } from "../runtime/liveness-monitor.js";
import type { RecordHeadCache } from "../runtime/record-head-cache.js";
import type { WatchHub } from "../runtime/watch-hub.js";
import type { Transition } from "../storage/apply-batch.js";
import {
  type HostLiveness,
  isHeartbeatItem,
  type WorkItem,
  type WorkOutcome,
} from "../storage/apply-batch.js";
import type { Metrics } from "./metrics.js";

export interface CommitFanoutDeps {
  /** Only when this process is the one writer (SQLite). */
  readonly heads: RecordHeadCache | undefined;
  readonly hub: WatchHub;
  /** Whether the reducer publishes its own transitions to the hub (SQLite: one writer). */
  readonly publishes: boolean;
  /** Wakes the log follower that publishes instead (PostgreSQL), when anyone watches. */
  readonly poke?: () => void;
  readonly liveness: LivenessMonitor;
  readonly metrics: Metrics;
}

/** The reducer's onCommitted hook. */
export function createCommitFanout(
  deps: CommitFanoutDeps,
): (items: readonly WorkItem[], outcomes: readonly WorkOutcome[]) => void {
  const { heads, hub, publishes, poke, liveness, metrics } = deps;

  function moved(
    record: HostRolloutRecord,
    transition: Transition | null,
    eventLogId: number,
    watched: boolean,
  ): void {
    const { rolloutId, hostname, state, lastEventSeq, missingSeqCount } = record;
    heads?.set(rolloutId, hostname, { state, lastEventSeq, missingSeqCount });
    if (watched && transition !== null) {
      hub.publish({ rolloutId, hostname, ...transition, eventLogId, record });
    }
  }

  return (items, outcomes) => {
    if (poke !== undefined && hub.size > 0) poke();
    const watched = publishes && hub.size > 0;
    const heard: HostLiveness[] = [];
    outcomes.forEach((outcome, i) => {
      const item = items[i] as WorkItem;
      switch (outcome.type) {
        case "heartbeat":
          heard.push(outcome.liveness);
          for (const s of outcome.synthesized) {
            metrics.synthesizedEvents.inc({ kind: s.event.kind });
            moved(s.record, s.transition, s.eventLogId, watched);
          }
          return;
        case "applied":
          if (outcome.seqGap > 0) {
            metrics.seqGapEvents.inc();
            metrics.missingSeqs.inc(outcome.seqGap);
          }
          moved(outcome.record, outcome.transition, outcome.eventLogId, watched);
          return;
        case "duplicate":
        case "refused":
          if (!isHeartbeatItem(item)) moved(outcome.record, null, 0, false);
          return;
        case "notFound":
        case "rejected":
          return;
      }
    });
    if (heard.length > 0) liveness.heard(heard);
  };
}
