// Shared by the per-state modules: building an applied result (so lastEventSeq and the effect
// order are decided in one place) and the refusals.
import type { HealthFailurePolicy, HostRolloutRecord } from "../domain.js";
import type { Effect } from "../effect.js";
import { eventTime, type RemoteEvent } from "../event.js";
import type { Instant } from "../instant.js";
import { skipSeqs } from "../seq-gaps.js";
import type { StepApplied, StepRefused } from "../step.js";

/** What every state module exports: the rules for events arriving in that state. */
export type StateHandler = (
  record: HostRolloutRecord,
  event: RemoteEvent,
  now: Instant,
  policy: HealthFailurePolicy,
) => StepApplied | StepRefused;

/** The record fields a transition may change; identity and the seq are not among them. */
export type RecordChanges = Partial<
  Omit<
    HostRolloutRecord,
    | "rolloutId"
    | "hostname"
    | "channel"
    | "targetClosure"
    | "lastEventSeq"
    | "missingSeqCount"
    | "missingSeqs"
  >
>;

/**
 * Applies `changes` and the event's seq (counting the seqs it skipped), and lays out the effects in their contract order:
 * appendEventLog, recordTransition (only when the state changed), then `trailing` (the
 * quarantine or the probe failures, which no single event produces together).
 */
export function applied(
  record: HostRolloutRecord,
  event: RemoteEvent,
  changes: RecordChanges,
  trailing: readonly Effect[] = [],
): StepApplied {
  const next: HostRolloutRecord = {
    ...record,
    ...changes,
    ...skipSeqs(record, event.seq),
    lastEventSeq: event.seq,
  };
  const effects: Effect[] = [{ type: "appendEventLog", event }];
  if (next.state !== record.state) {
    effects.push({
      type: "recordTransition",
      from: record.state,
      to: next.state,
      at: eventTime(event),
    });
  }
  effects.push(...trailing);
  return { ok: true, record: next, effects };
}

/** The event's kind has no rule in the record's current state. */
export function illegal(record: HostRolloutRecord, event: RemoteEvent): StepRefused {
  return { ok: false, error: { type: "illegalForState", state: record.state, kind: event.kind } };
}

/**
 * The compile-time half of an exhaustive switch; reaching it at run time means a value
 * bypassed validation (a corrupt stored state or an unchecked event), which is a bug.
 */
export function unreachable(value: never, what: string): never {
  throw new Error(`unhandled ${what}: ${JSON.stringify(value)}`);
}
