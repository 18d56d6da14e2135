// Dialect-neutral planning of a batch: step() over each event in order against records loaded
// under the batch's lock, yielding the rows to write and each item's outcome.
import type { HealthFailurePolicy, HostRolloutRecord, HostState } from "../core/domain.js";
import type { RecordProbeFailure } from "../core/effect.js";
import type { RemoteEvent } from "../core/event.js";
import type { Instant } from "../core/instant.js";
import { step } from "../core/step.js";
import type { StepError } from "../core/step-error.js";

/** One event to apply, as the handler accepted it. */
export interface BatchItem {
  readonly rolloutId: string;
  readonly hostname: string;
  readonly event: RemoteEvent;
  /** The agent's signature over the event, kept in the log for audit; null when unsigned. */
  readonly signature: Uint8Array | null;
}

/** A state change caused by an applied event; `at` is the agent's time of the event. */
export interface Transition {
  readonly from: HostState;
  readonly to: HostState;
  readonly at: Instant;
}

/** The fate of one item, with the record as it stands right after it. */
export type BatchOutcome =
  | {
      readonly type: "applied";
      readonly record: HostRolloutRecord;
      readonly eventLogId: number;
      readonly transition: Transition | null;
    }
  | { readonly type: "duplicate"; readonly record: HostRolloutRecord }
  | { readonly type: "notFound" }
  | { readonly type: "refused"; readonly error: StepError; readonly record: HostRolloutRecord };

/** A record as loaded under the batch's lock, with its rollout's policy. */
export interface LockedRecord {
  readonly record: HostRolloutRecord;
  readonly policy: HealthFailurePolicy;
}

/** An event-log row to append, with the derived rows that will reference its id. */
export interface PlannedEvent {
  readonly rolloutId: string;
  readonly hostname: string;
  readonly seq: number;
  readonly kind: RemoteEvent["kind"];
  readonly payload: string;
  readonly signature: Buffer | null;
  readonly quarantine: { readonly channel: string; readonly closure: string } | null;
  readonly probeFailures: readonly RecordProbeFailure[];
}

/** An outcome whose event-log id is known only once its row is written. */
export type PlannedOutcome =
  | Exclude<BatchOutcome, { type: "applied" }>
  | {
      readonly type: "applied";
      readonly record: HostRolloutRecord;
      readonly eventIndex: number;
      readonly transition: Transition | null;
    };

/** Everything a batch writes: events in item order, and each touched record's final state. */
export interface BatchPlan {
  readonly outcomes: PlannedOutcome[];
  readonly events: PlannedEvent[];
  readonly records: HostRolloutRecord[];
}

/** The key of a (rollout, host) pair in per-batch maps. */
export function recordKey(rolloutId: string, hostname: string): string {
  return `${rolloutId}\u0000${hostname}`;
}

/**
 * Runs step() over the batch in order. `load` is called once per distinct (rollout, host),
 * inside the transaction and under its lock; later events of the same host see the record
 * the earlier ones produced. Pure apart from `load`; throws only on a bug or bad input
 * (then the caller rolls back).
 */
export function planBatch(
  items: readonly BatchItem[],
  now: Instant,
  load: (rolloutId: string, hostname: string) => LockedRecord | undefined,
): BatchPlan {
  const cache = new Map<
    string,
    { record: HostRolloutRecord; policy: HealthFailurePolicy } | null
  >();
  const dirty = new Set<string>();
  const outcomes: PlannedOutcome[] = [];
  const events: PlannedEvent[] = [];
  for (const item of items) {
    const key = recordKey(item.rolloutId, item.hostname);
    let entry = cache.get(key);
    if (entry === undefined) {
      const loaded = load(item.rolloutId, item.hostname);
      entry = loaded === undefined ? null : { record: loaded.record, policy: loaded.policy };
      cache.set(key, entry);
    }
    if (entry === null) {
      outcomes.push({ type: "notFound" });
      continue;
    }
    const { event } = item;
    // The dedup high-water mark, re-checked here under the lock whatever the handler saw.
    if (event.seq <= entry.record.lastEventSeq) {
      outcomes.push({ type: "duplicate", record: entry.record });
      continue;
    }
    const result = step(entry.record, event, now, entry.policy);
    if (!result.ok) {
      outcomes.push({ type: "refused", error: result.error, record: entry.record });
      continue;
    }
    let transition: Transition | null = null;
    let quarantine: PlannedEvent["quarantine"] = null;
    const probeFailures: RecordProbeFailure[] = [];
    for (const effect of result.effects) {
      if (effect.type === "recordTransition") {
        transition = { from: effect.from, to: effect.to, at: effect.at };
      } else if (effect.type === "insertQuarantine") {
        quarantine = { channel: effect.channel, closure: effect.closure };
      } else if (effect.type === "recordProbeFailure") {
        probeFailures.push(effect);
      }
    }
    const signature = item.signature;
    events.push({
      rolloutId: item.rolloutId,
      hostname: item.hostname,
      seq: event.seq,
      kind: event.kind,
      payload: JSON.stringify(event),
      signature:
        signature === null
          ? null
          : Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength),
      quarantine,
      probeFailures,
    });
    entry.record = result.record;
    dirty.add(key);
    outcomes.push({
      type: "applied",
      record: result.record,
      eventIndex: events.length - 1,
      transition,
    });
  }
  const records: HostRolloutRecord[] = [];
  for (const key of dirty) {
    const entry = cache.get(key);
    if (entry) records.push(entry.record);
  }
  return { outcomes, events, records };
}

/** Resolves planned outcomes once the event-log ids are known (ids[i] for events[i]). */
export function finishOutcomes(
  outcomes: readonly PlannedOutcome[],
  ids: readonly number[],
): BatchOutcome[] {
  return outcomes.map((o) => {
    if (o.type !== "applied") return o;
    const eventLogId = ids[o.eventIndex];
    if (eventLogId === undefined) throw new Error(`no event-log id for event ${o.eventIndex}`);
    return { type: "applied", record: o.record, eventLogId, transition: o.transition };
  });
}
