// Folding events through step(): how the event log proves it reproduces a record, and how a
// lost record is rebuilt from its log.
import type { HealthFailurePolicy, HostRolloutRecord } from "./domain.js";
import type { RemoteEvent } from "./event.js";
import type { Instant } from "./instant.js";
import { step } from "./step.js";
import type { StepError } from "./step-error.js";

/** The record after a replay, and each event's fate in input order. */
export interface ReplayResult {
  readonly record: HostRolloutRecord;
  readonly applied: RemoteEvent[];
  readonly refused: { event: RemoteEvent; error: StepError }[];
}

/**
 * Applies `events` in order from `opened`; a refused event changes nothing and the fold
 * goes on with the next one. The same `now` and `policy` are used for every step.
 */
export function replay(
  opened: HostRolloutRecord,
  events: readonly RemoteEvent[],
  now: Instant,
  policy: HealthFailurePolicy,
): ReplayResult {
  let record = opened;
  const applied: RemoteEvent[] = [];
  const refused: { event: RemoteEvent; error: StepError }[] = [];
  for (const event of events) {
    const result = step(record, event, now, policy);
    if (result.ok) {
      record = result.record;
      applied.push(event);
    } else {
      refused.push({ event, error: result.error });
    }
  }
  return { record, applied, refused };
}
