// The PostEvents pipeline (an agent's backlog in one call) shared by every surface: the call's
// identity and size are checked once, then each event gets exactly PostEvent's steps and verdict;
// the events enter the channel all together or not at all.
import type { PendingItem, Settlement } from "../runtime/reducer.js";
import type { BatchItem, BatchOutcome } from "../storage/apply-batch.js";
import type { RecordHead } from "../storage/record-head.js";
import { classifyStoreError } from "../storage/store-error.js";
import type { DecodeResult, PostEventInput } from "./convert/decode-post-event.js";
import type { PeerIdentity } from "./peer-identity.js";
import {
  contextOf,
  createEventIntake,
  duplicateOf,
  foreignHost,
  type PostEventDeps,
  type PostEventResult,
  pendingOf,
  type RequestSource,
} from "./post-event.js";
import { type ServiceError, serviceError } from "./service-error.js";

/** Most events one PostEvents call may hold, unless configured lower (`--max-events-per-call`). */
export const MAX_EVENTS_PER_CALL = 256;

/** One event of a call, decoded lazily (only once the caller is known to be this host's agent). */
export interface BatchedEventSource {
  /** Decodes the event as PostEvent would decode it with the call's hostname. */
  decode(): DecodeResult;
  /** The event as a PostEvent request would carry it, for the refused-event log. */
  request(): string;
}

/** A PostEvents request: one host, its events in order. */
export interface PostEventsInput {
  readonly hostname: string;
  readonly events: readonly BatchedEventSource[];
}

/** One verdict per event, in order; or why the whole call was refused (nothing applied). */
export type PostEventsResult = { readonly verdicts: readonly PostEventResult[] } | ServiceError;

/** Handles one PostEvents call. */
export type PostEvents = (
  peer: PeerIdentity,
  input: PostEventsInput,
  protocol: RequestSource["protocol"],
) => Promise<PostEventsResult>;

export interface PostEventsDeps extends PostEventDeps {
  /** Most events per call (default MAX_EVENTS_PER_CALL); never more than the channel holds. */
  readonly maxEventsPerCall?: number;
}

/** An event that goes to the reducer, and what it waits on. */
interface Queued {
  readonly index: number;
  readonly input: PostEventInput;
  readonly pending: PendingItem<BatchItem, BatchOutcome>;
  readonly settled: Promise<Settlement<BatchOutcome>>;
  skipped: boolean;
}

/** Creates the PostEvents pipeline over the same channel, reducer and rules as PostEvent. */
export function createPostEvents(deps: PostEventsDeps): PostEvents {
  const intake = createEventIntake(deps);
  const { channel, observer, retryAfterSeconds } = deps;
  // A call larger than the channel could never be queued whole: refuse it as too large rather
  // than answer "retry later" forever.
  const maxEvents = Math.min(deps.maxEventsPerCall ?? MAX_EVENTS_PER_CALL, channel.capacity);

  return async (peer, { hostname, events }, protocol) => {
    const machineId = intake.machineIdOf(peer);
    if (typeof machineId !== "string") return machineId;
    const callContext = { peer: peer.commonName, hostname };
    if (hostname !== machineId) return intake.reject(foreignHost(machineId, hostname), callContext);
    if (events.length === 0) {
      return intake.reject(
        serviceError("invalid_argument", "events: must hold at least one event", {
          field: "events",
        }),
        callContext,
      );
    }
    if (events.length > maxEvents) {
      return intake.reject(
        serviceError(
          "invalid_argument",
          `events: holds ${events.length} events; at most ${maxEvents} per call (split the backlog)`,
          { field: "events" },
        ),
        callContext,
      );
    }
    const closed = intake.notAccepting();
    if (closed !== undefined) return intake.reject(closed, callContext);

    const verdicts: (PostEventResult | undefined)[] = new Array(events.length);
    const decoded: (PostEventInput | undefined)[] = new Array(events.length);
    for (const [i, source] of events.entries()) {
      const result = source.decode();
      if (result.ok) decoded[i] = result.value;
      else verdicts[i] = intake.invalid(result.error, peer);
    }
    const unreachable = intake.storeUnreachable();
    if (unreachable !== undefined) {
      for (const input of decoded)
        if (input) observer?.onVerdict?.(input.event.kind, "unavailable");
      return intake.reject(unreachable, callContext);
    }

    // One head lookup per rollout of the call: its events are answered duplicate early when
    // the head allows it, as PostEvent would; a head only grows, so the answer stays true.
    const heads = new Map<string, RecordHead | undefined>();
    const queued: Queued[] = [];
    const early: { index: number; kind: string }[] = [];
    // Rollouts of this call whose event failed to commit (not for its data): their later
    // events are not applied ahead of it, but answered unavailable too.
    const stalled = new Set<string>();
    for (const [index, input] of decoded.entries()) {
      if (input === undefined) continue;
      const item = intake.itemOf(peer, input, {
        protocol,
        request: () => (events[index] as BatchedEventSource).request(),
      });
      if (item.refusal === undefined) {
        let head = heads.get(input.rolloutId);
        if (!heads.has(input.rolloutId)) {
          const read = await intake.head(input.rolloutId, input.hostname, input.event.kind);
          if (read !== undefined && "code" in read) return intake.reject(read, callContext);
          head = read;
          heads.set(input.rolloutId, head);
        }
        const duplicate = duplicateOf(head, input.event);
        if (duplicate !== undefined) {
          verdicts[index] = duplicate;
          early.push({ index, kind: input.event.kind });
          continue;
        }
      }
      const { pending, settled } = pendingOf(item);
      const entry: Queued = {
        index,
        input,
        settled,
        skipped: false,
        pending: {
          ...pending,
          settle(settlement) {
            if (!settlement.ok && classifyStoreError(settlement.error) !== "data") {
              stalled.add(input.rolloutId);
            }
            pending.settle(settlement);
          },
          skip() {
            if (!stalled.has(input.rolloutId)) return undefined;
            entry.skipped = true;
            return { ok: false, error: new Error("not attempted") };
          },
        },
      };
      queued.push(entry);
    }
    if (!channel.trySendAll(queued.map((q) => q.pending))) {
      for (const q of queued) observer?.onVerdict?.(q.input.event.kind, "shed");
      return intake.reject(intake.shed(), callContext);
    }
    for (const { kind } of early) observer?.onVerdict?.(kind, "duplicate");

    const settlements = await Promise.all(queued.map((q) => q.settled));
    for (const [i, q] of queued.entries()) {
      const context = contextOf(peer, q.input);
      if (q.skipped) {
        observer?.onVerdict?.(q.input.event.kind, "unavailable");
        verdicts[q.index] = intake.reject(
          serviceError(
            "unavailable",
            "not attempted: an earlier event of this rollout in this call was not committed; retry from it with the same seqs",
            { retryAfterSeconds },
          ),
          context,
        );
        continue;
      }
      verdicts[q.index] = intake.verdictOf(
        settlements[i] as Settlement<BatchOutcome>,
        q.input,
        context,
        protocol,
      );
    }
    return { verdicts: verdicts as PostEventResult[] };
  };
}
