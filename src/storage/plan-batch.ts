// Dialect-neutral planning of a batch: step() over each event in order against records loaded
// under the batch's lock, yielding the rows to write and each item's outcome.
import type { HealthFailurePolicy, HostRolloutRecord, HostState } from "../core/domain.js";
import type { RecordProbeFailure } from "../core/effect.js";
import type { RemoteEvent } from "../core/event.js";
import type { Instant } from "../core/instant.js";
import { notFoundRefusal, type Refusal, stepRefusal } from "../core/refusal.js";
import { fillsGap, seqGap } from "../core/seq-gaps.js";
import { type StepLimits, step } from "../core/step.js";
import type { StepError } from "../core/step-error.js";
import {
  type HeartbeatItem,
  type HeartbeatOutcome,
  type HostLiveness,
  type PlanContext,
  type PlanEntry,
  type PlannedHeartbeat,
  planHeartbeat,
} from "./plan-heartbeat.js";
import { type PlannedRefusal, plannedRefusal, type RequestOrigin } from "./refused-events.js";

export type { HeartbeatItem, HeartbeatOutcome, HostLiveness } from "./plan-heartbeat.js";

/** One event to apply, as the handler accepted it. */
export interface BatchItem {
  readonly rolloutId: string;
  readonly hostname: string;
  readonly event: RemoteEvent;
  /** The agent's signature over the event, kept in the log for audit; null when unsigned. */
  readonly signature: Uint8Array | null;
  /** What the signature was verified over, and the signer's key (SPKI DER), for audit. */
  readonly signed?: SignedForm;
  /** Who sent it and what was received: written to the refused-event log if refused. */
  readonly origin?: RequestOrigin;
  /** Refused before the state machine (unsafe input, signature): recorded, never stepped. */
  readonly refusal?: Refusal;
}

/** The exact text a signature was verified over, and the key that verified it. */
export interface SignedForm {
  readonly form: string;
  readonly key: Uint8Array;
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
      /** Seqs this event skipped (0 when it was last+1). */
      readonly seqGap: number;
    }
  | { readonly type: "duplicate"; readonly record: HostRolloutRecord }
  | { readonly type: "notFound" }
  | { readonly type: "refused"; readonly error: StepError; readonly record: HostRolloutRecord }
  /** Refused before the state machine (the item's `refusal`); recorded like the others. */
  | { readonly type: "rejected"; readonly refusal: Refusal };

/** Any work the reducer commits: an agent's event or a heartbeat. */
export type WorkItem = BatchItem | HeartbeatItem;

/** The fate of any work item: a heartbeat's outcome for a heartbeat, else an event's. */
export type WorkOutcome = BatchOutcome | HeartbeatOutcome;

/** Whether a work item is a heartbeat. */
export function isHeartbeatItem(item: WorkItem): item is HeartbeatItem {
  return "heartbeat" in item;
}

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
  /** Synthesized by the control plane from a heartbeat, not posted by the agent. */
  readonly synthesized: boolean;
  readonly signedForm: string | null;
  readonly signerKey: Buffer | null;
  readonly quarantine: { readonly channel: string; readonly closure: string } | null;
  readonly probeFailures: readonly RecordProbeFailure[];
}

/** An applied outcome whose event-log id is known only once its row is written. */
export type PlannedApplied = Omit<Extract<BatchOutcome, { type: "applied" }>, "eventLogId"> & {
  readonly eventIndex: number;
};

/** An outcome whose event-log ids are known only once the rows are written. */
export type PlannedOutcome =
  | Exclude<BatchOutcome, { type: "applied" }>
  | PlannedApplied
  | PlannedHeartbeat;

/** Everything a batch writes: events in item order, and each touched record's final state. */
export interface BatchPlan {
  readonly outcomes: PlannedOutcome[];
  readonly events: PlannedEvent[];
  readonly records: HostRolloutRecord[];
  /** The liveness row of each heartbeating host (its last heartbeat in the batch). */
  readonly hosts: HostLiveness[];
  /** The refused-event log entries of the items refused. */
  readonly refusals: PlannedRefusal[];
}

function buffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The key of a (rollout, host) pair in per-batch maps. */
export function recordKey(rolloutId: string, hostname: string): string {
  return `${rolloutId}\u0000${hostname}`;
}

/**
 * Runs step() over the batch in order; a heartbeat item runs the recovery rules over every
 * record of its host (plan-heartbeat.ts). `load` is called once per distinct (rollout,
 * host), `loadHost` once per heartbeating host, inside the transaction and under its lock;
 * later items of the same host see the records the earlier ones produced. Pure apart from the
 * loaders; throws only on a bug or bad input (then the caller rolls back).
 */
export function planBatch(
  items: readonly WorkItem[],
  now: Instant,
  load: (rolloutId: string, hostname: string) => LockedRecord | undefined,
  loadHost: (hostname: string) => readonly LockedRecord[] = () => [],
  limits?: StepLimits,
): BatchPlan {
  // null: no record for the pair.
  const cache = new Map<string, PlanEntry | null>();
  const loadedHosts = new Set<string>();
  const dirty = new Set<string>();
  const outcomes: PlannedOutcome[] = [];
  const events: PlannedEvent[] = [];
  const liveness = new Map<string, HostLiveness>();
  const refusals: PlannedRefusal[] = [];

  function apply(
    entry: PlanEntry,
    event: RemoteEvent,
    signature: Uint8Array | null,
    synthesized: boolean,
    signed?: SignedForm,
  ): PlannedOutcome {
    const { record: before } = entry;
    const key = recordKey(before.rolloutId, before.hostname);
    // The dedup high-water mark, re-checked here under the lock whatever the handler saw;
    // a late copy of a missing seq goes on to step(), which logs it.
    if (event.seq <= before.lastEventSeq && !fillsGap(before, event.seq)) {
      return { type: "duplicate", record: before };
    }
    const result = step(before, event, now, entry.policy, limits);
    if (!result.ok) return { type: "refused", error: result.error, record: before };
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
    events.push(
      plannedEvent(before, event, signature, synthesized, quarantine, probeFailures, signed),
    );
    entry.record = result.record;
    dirty.add(key);
    return {
      type: "applied",
      record: result.record,
      eventIndex: events.length - 1,
      transition,
      seqGap: seqGap(before, event.seq),
    };
  }

  // Each host's records in the cache, so a heartbeat finds them without a scan.
  const byHost = new Map<string, Set<string>>();
  function remember(key: string, entry: PlanEntry | null): void {
    cache.set(key, entry);
    if (entry === null) return;
    let keys = byHost.get(entry.record.hostname);
    if (keys === undefined) {
      keys = new Set();
      byHost.set(entry.record.hostname, keys);
    }
    keys.add(key);
  }

  const context: PlanContext = {
    apply,
    hostEntries(hostname) {
      if (!loadedHosts.has(hostname)) {
        loadedHosts.add(hostname);
        for (const locked of loadHost(hostname)) {
          const key = recordKey(locked.record.rolloutId, hostname);
          // A cached entry is this batch's newer version of the same record.
          if (!cache.get(key)) remember(key, { record: locked.record, policy: locked.policy });
        }
      }
      const entries: PlanEntry[] = [];
      for (const key of byHost.get(hostname) ?? []) {
        const entry = cache.get(key);
        if (entry) entries.push(entry);
      }
      return entries;
    },
  };

  for (const item of items) {
    if (isHeartbeatItem(item)) {
      const { heartbeat } = item;
      const host: HostLiveness = {
        hostname: heartbeat.hostname,
        lastHeartbeatAt: heartbeat.at,
        receivedAt: now,
        currentClosure: heartbeat.currentClosure,
      };
      // Heartbeats of one host in one batch coalesce to its latest in the hosts row.
      liveness.set(heartbeat.hostname, host);
      outcomes.push(planHeartbeat(heartbeat, host, context));
      continue;
    }
    if (item.refusal !== undefined) {
      refusals.push(plannedRefusal(item, item.refusal));
      outcomes.push({ type: "rejected", refusal: item.refusal });
      continue;
    }
    const key = recordKey(item.rolloutId, item.hostname);
    let entry = cache.get(key);
    if (entry === undefined) {
      const loaded = load(item.rolloutId, item.hostname);
      entry = loaded === undefined ? null : { record: loaded.record, policy: loaded.policy };
      remember(key, entry);
    }
    if (entry === null) {
      refusals.push(plannedRefusal(item, notFoundRefusal(item.rolloutId, item.hostname)));
      outcomes.push({ type: "notFound" });
      continue;
    }
    const outcome = apply(entry, item.event, item.signature, false, item.signed);
    if (outcome.type === "refused") refusals.push(plannedRefusal(item, stepRefusal(outcome.error)));
    outcomes.push(outcome);
  }
  const records: HostRolloutRecord[] = [];
  for (const key of dirty) {
    const entry = cache.get(key);
    if (entry) records.push(entry.record);
  }
  // Hostname order, so concurrent writers (replicas) take the hosts rows' locks alike.
  const hosts = [...liveness.values()].sort((a, b) =>
    a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0,
  );
  return { outcomes, events, records, hosts, refusals };
}

function plannedEvent(
  record: HostRolloutRecord,
  event: RemoteEvent,
  signature: Uint8Array | null,
  synthesized: boolean,
  quarantine: PlannedEvent["quarantine"],
  probeFailures: readonly RecordProbeFailure[],
  signed: SignedForm | undefined,
): PlannedEvent {
  return {
    rolloutId: record.rolloutId,
    hostname: record.hostname,
    seq: event.seq,
    kind: event.kind,
    payload: JSON.stringify(event),
    signature: signature === null ? null : buffer(signature),
    synthesized,
    signedForm: signature === null || signed === undefined ? null : signed.form,
    signerKey: signature === null || signed === undefined ? null : buffer(signed.key),
    quarantine,
    probeFailures,
  };
}

/** Resolves planned outcomes once the event-log ids are known (ids[i] for events[i]). */
export function finishOutcomes(
  outcomes: readonly PlannedOutcome[],
  ids: readonly number[],
): WorkOutcome[] {
  const idOf = (eventIndex: number): number => {
    const eventLogId = ids[eventIndex];
    if (eventLogId === undefined) throw new Error(`no event-log id for event ${eventIndex}`);
    return eventLogId;
  };
  return outcomes.map((o) => {
    if (o.type === "heartbeat") {
      return {
        ...o,
        synthesized: o.synthesized.map(({ eventIndex, ...rest }) => ({
          ...rest,
          eventLogId: idOf(eventIndex),
        })),
      };
    }
    if (o.type !== "applied") return o;
    const { eventIndex, ...rest } = o;
    return { ...rest, eventLogId: idOf(eventIndex) };
  });
}
