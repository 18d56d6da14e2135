// The PostEvent pipeline shared by every surface (Connect, gRPC, gRPC-Web, the JSON binding):
// role → validation → hostname match → signature → cheap dedup → trySend → await the
// committed verdict. A refusal on the merits is recorded by the reducer before it is answered.
import { performance } from "node:perf_hooks";
import type { HostState } from "../core/domain.js";
import type { RemoteEvent } from "../core/event.js";
import { inputRefusal, notFoundRefusal, type Refusal, stepRefusal } from "../core/refusal.js";
import type { BoundedChannel } from "../runtime/bounded-channel.js";
import type { PendingItem, Settlement } from "../runtime/reducer.js";
import type {
  BatchItem,
  BatchOutcome,
  SignedForm,
  WorkItem,
  WorkOutcome,
} from "../storage/apply-batch.js";
import type { HeadLookup, RecordHead } from "../storage/record-head.js";
import type { RequestOrigin } from "../storage/refused-events.js";
import type { DecodeResult, InvalidField, PostEventInput } from "./convert/decode-post-event.js";
import type { PeerIdentity } from "./peer-identity.js";
import {
  fromThrown,
  queueFull,
  refusalError,
  type ServiceError,
  serviceError,
  storeUnavailable,
} from "./service-error.js";
import { signedFormCandidates } from "./signature/signed-form.js";
import { verifySignedText } from "./signature/verify-event-signature.js";

/** The verdict on an event that did not fail. */
export interface PostEventVerdict {
  readonly outcome: "applied" | "duplicate";
  readonly state: HostState;
  readonly lastEventSeq: number;
  /** Seqs this event skipped (0 unless applied past last+1). */
  readonly seqGap: number;
  /** Seqs the record is missing, and the lowest of them. */
  readonly missingSeqCount: number;
  readonly missingSeqs: readonly number[];
}

/** A well-formed event refused on its merits, or for input no store keeps; recorded. */
export interface RefusedVerdict {
  readonly outcome: "refused";
  readonly refusal: Refusal;
  /** The truthful error (Connect/gRPC always answer it; the binding when asked to). */
  readonly error: ServiceError;
}

export type PostEventResult = PostEventVerdict | RefusedVerdict | ServiceError;

/** Counts what happens to events, for metrics; every hook is optional. */
export interface PostEventObserver {
  onVerdict?(kind: string, outcome: string): void;
  onRejected?(error: ServiceError, context: RejectContext): void;
  /** A refusal was committed to the refused-event log. */
  onRefused?(refusal: Refusal, protocol: RequestOrigin["protocol"]): void;
}

/** What a rejection log line names. */
export interface RejectContext {
  readonly peer: string;
  readonly hostname?: string;
  readonly rolloutId?: string;
  readonly seq?: number;
  readonly kind?: string;
}

export interface PostEventDeps {
  readonly channel: BoundedChannel<PendingItem<WorkItem, WorkOutcome>>;
  /** The record's head, or undefined when there is no record for the pair. */
  readonly lookup: HeadLookup;
  /** False before the reducer runs and once shutdown began. */
  readonly isAccepting: () => boolean;
  /** The retry delay hinted when shedding load. */
  readonly retryAfterSeconds: number;
  /** Refuse events that carry no signature (signatures present are always verified). */
  readonly requireSignatures?: boolean;
  readonly observer?: PostEventObserver;
  /** False while the store is known to be unreachable: events are then refused at once. */
  readonly storeReachable?: () => boolean;
  /** Hears every store failure met on this path (the store health watches for outages). */
  readonly onStoreError?: (error: unknown) => void;
}

/** How the request arrived: the refused-event log keeps it as received. */
export interface RequestSource {
  readonly protocol: RequestOrigin["protocol"];
  /** The binding's body, or the proto request as proto JSON (called only on a refusal). */
  request(): string;
}

/** Handles one PostEvent: `decode` runs only after the caller is known to be an agent. */
export type PostEvent = (
  peer: PeerIdentity,
  decode: () => DecodeResult,
  source: RequestSource,
) => Promise<PostEventResult>;

/** Creates the PostEvent pipeline over a channel whose reducer commits through the store. */
export function createPostEvent(deps: PostEventDeps): PostEvent {
  const intake = createEventIntake(deps);
  const { channel, observer } = deps;

  return async (peer, decode, source) => {
    const machineId = intake.machineIdOf(peer);
    if (typeof machineId !== "string") return machineId;
    const decoded = decode();
    if (!decoded.ok) return intake.invalid(decoded.error, peer);
    const input = decoded.value;
    const context = contextOf(peer, input);
    if (input.hostname !== machineId) {
      return intake.reject(foreignHost(machineId, input.hostname), context);
    }
    const closed = intake.notAccepting();
    if (closed !== undefined) return intake.reject(closed, context);
    const item = intake.itemOf(peer, input, source);
    const unreachable = intake.storeUnreachable();
    if (unreachable !== undefined) {
      observer?.onVerdict?.(input.event.kind, "unavailable");
      return intake.reject(unreachable, context);
    }
    if (item.refusal === undefined) {
      // An unknown pair goes on to the reducer, which records the refusal durably.
      const head = await intake.head(input.rolloutId, input.hostname, input.event.kind);
      if (head !== undefined && "code" in head) return intake.reject(head, context);
      const early = duplicateOf(head, input.event);
      if (early !== undefined) {
        observer?.onVerdict?.(input.event.kind, "duplicate");
        return early;
      }
    }
    const { pending, settled } = pendingOf(item);
    if (!channel.trySend(pending)) {
      observer?.onVerdict?.(input.event.kind, "shed");
      return intake.reject(intake.shed(), context);
    }
    return intake.verdictOf(await settled, input, context, source.protocol);
  };
}

/** The steps PostEvent and PostEvents share, so both answer an event the same way. */
export interface EventIntake {
  /** Counts and logs a rejection, and returns it. */
  reject(error: ServiceError, context: RejectContext): ServiceError;
  /** The caller's machine id, or permission_denied when it is not an agent. */
  machineIdOf(peer: PeerIdentity): string | ServiceError;
  /** invalid_argument for a field that did not decode. */
  invalid(error: InvalidField, peer: PeerIdentity): ServiceError;
  /** unavailable while starting or shutting down, else undefined. */
  notAccepting(): ServiceError | undefined;
  /** unavailable while the store is known to be unreachable, else undefined. */
  storeUnreachable(): ServiceError | undefined;
  /** The channel item of a decoded event: its refusal or its verified signature attached. */
  itemOf(peer: PeerIdentity, input: PostEventInput, source: RequestSource): BatchItem;
  /**
   * The record's head for the cheap duplicate check (undefined when there is no record), or
   * unavailable (counted under the event's kind) when the lookup failed.
   */
  head(
    rolloutId: string,
    hostname: string,
    kind: string,
  ): Promise<RecordHead | undefined | ServiceError>;
  /** The answer when the channel refused the item(s). */
  shed(): ServiceError;
  /** The verdict of a settled item (counted, and logged when refused). */
  verdictOf(
    settlement: Settlement<BatchOutcome>,
    input: PostEventInput,
    context: RejectContext,
    protocol: RequestOrigin["protocol"],
  ): PostEventResult;
}

/** Creates the shared steps over the pipeline's dependencies. */
export function createEventIntake(deps: PostEventDeps): EventIntake {
  const {
    channel,
    lookup,
    isAccepting,
    retryAfterSeconds,
    observer,
    requireSignatures = false,
    storeReachable = () => true,
    onStoreError,
  } = deps;

  function reject(error: ServiceError, context: RejectContext): ServiceError {
    observer?.onRejected?.(error, context);
    return error;
  }
  function unavailable(message: string): ServiceError {
    return serviceError("unavailable", message, { retryAfterSeconds });
  }

  return {
    reject,
    machineIdOf(peer) {
      if (peer.role.kind === "agent") return peer.role.machineId;
      return reject(
        serviceError(
          "permission_denied",
          `${peer.commonName} is an operator and cannot post agent events`,
        ),
        { peer: peer.commonName },
      );
    },
    invalid({ field, message }, peer) {
      return reject(serviceError("invalid_argument", message, { field }), {
        peer: peer.commonName,
      });
    },
    notAccepting() {
      return isAccepting()
        ? undefined
        : unavailable("not accepting events (starting or shutting down)");
    },
    storeUnreachable() {
      return storeReachable() ? undefined : storeUnavailable(retryAfterSeconds);
    },
    itemOf(peer, input, source) {
      const checked =
        input.refusal !== undefined
          ? { refusal: input.refusal }
          : checkSignature(peer, input, requireSignatures);
      return {
        rolloutId: input.rolloutId,
        hostname: input.hostname,
        event: input.event,
        signature: input.signature,
        origin: {
          peer: peer.commonName,
          protocol: source.protocol,
          request: () => source.request(),
        },
        ...(checked.signed ? { signed: checked.signed } : {}),
        ...(checked.refusal ? { refusal: checked.refusal } : {}),
      };
    },
    async head(rolloutId, hostname, kind) {
      try {
        return await lookup(rolloutId, hostname);
      } catch (error) {
        onStoreError?.(error);
        observer?.onVerdict?.(kind, "unavailable");
        return fromThrown(error, retryAfterSeconds);
      }
    },
    shed() {
      return channel.closed ? unavailable("shutting down") : queueFull(retryAfterSeconds);
    },
    verdictOf(result, input, context, protocol) {
      const { event, rolloutId, hostname } = input;
      if (!result.ok) {
        // Only a data error reaches a single event (the reducer splits the batch down to it);
        // anything else is the store's fault and the same seq may be retried.
        const error = fromThrown(result.error, retryAfterSeconds);
        observer?.onVerdict?.(
          event.kind,
          error.code === "invalid_argument" ? "refused" : "unavailable",
        );
        return reject(
          error.code === "internal"
            ? unavailable("the commit failed; retry with the same seq")
            : error,
          context,
        );
      }
      const outcome = result.outcome;
      // One spelling per outcome label: not_found, as the error code spells it.
      observer?.onVerdict?.(event.kind, outcome.type === "notFound" ? "not_found" : outcome.type);
      switch (outcome.type) {
        case "applied":
        case "duplicate":
          return {
            outcome: outcome.type,
            state: outcome.record.state,
            lastEventSeq: outcome.record.lastEventSeq,
            seqGap: outcome.type === "applied" ? outcome.seqGap : 0,
            missingSeqCount: outcome.record.missingSeqCount,
            missingSeqs: outcome.record.missingSeqs,
          };
        case "notFound":
          return refused(notFoundRefusal(rolloutId, hostname));
        case "refused":
          return refused(stepRefusal(outcome.error));
        case "rejected":
          return refused(outcome.refusal);
      }

      function refused(refusal: Refusal): RefusedVerdict {
        const error = refusalError(refusal);
        observer?.onRefused?.(refusal, protocol);
        reject(error, context);
        return { outcome: "refused", refusal, error };
      }
    },
  };
}

/** What a rejection of this event names in the log. */
export function contextOf(peer: PeerIdentity, input: PostEventInput): RejectContext {
  return {
    peer: peer.commonName,
    hostname: input.hostname,
    rolloutId: input.rolloutId,
    seq: input.event.seq,
    kind: input.event.kind,
  };
}

/**
 * The duplicate answer a record's head allows without the reducer, or undefined when the
 * reducer must decide: a record missing seqs may take a late copy of one of them.
 */
export function duplicateOf(
  head: RecordHead | undefined,
  event: RemoteEvent,
): PostEventVerdict | undefined {
  if (head === undefined || event.seq > head.lastEventSeq || head.missingSeqCount !== 0) {
    return undefined;
  }
  return {
    outcome: "duplicate",
    state: head.state,
    lastEventSeq: head.lastEventSeq,
    seqGap: 0,
    missingSeqCount: 0,
    missingSeqs: [],
  };
}

/** permission_denied: an agent posts for itself only (SPEC §2). */
export function foreignHost(machineId: string, hostname: string): ServiceError {
  return serviceError(
    "permission_denied",
    `certificate machine id "${machineId}" may not post events for host "${hostname}"`,
  );
}

/** A channel entry for an item, and the promise of its settlement. */
export function pendingOf(item: BatchItem): {
  pending: PendingItem<BatchItem, BatchOutcome>;
  settled: Promise<Settlement<BatchOutcome>>;
} {
  let settle!: (s: Settlement<BatchOutcome>) => void;
  const settled = new Promise<Settlement<BatchOutcome>>((resolve) => {
    settle = resolve;
  });
  return { pending: { item, enqueuedAt: performance.now(), settle }, settled };
}

/** What the signature check decided: a refusal, or the verified signed form (if signed). */
interface SignatureCheck {
  readonly refusal?: Refusal;
  readonly signed?: SignedForm;
}

/**
 * Verifies a present signature against the client certificate's key (SPEC §9) over the
 * canonical signed forms of the event, and keeps the form that verified.
 */
function checkSignature(
  peer: PeerIdentity,
  input: PostEventInput,
  required: boolean,
): SignatureCheck {
  if (input.signature === null) {
    return required
      ? {
          refusal: inputRefusal(
            "signature",
            "signature",
            "this control plane requires signed events",
          ),
        }
      : {};
  }
  const key = peer.publicKey;
  if (key !== undefined) {
    for (const form of signedFormCandidates(input.event, input.rawEvent)) {
      if (verifySignedText(key, form, input.signature)) {
        return {
          signed: { form, key: new Uint8Array(key.export({ type: "spki", format: "der" })) },
        };
      }
    }
  }
  return {
    refusal: inputRefusal(
      "signature",
      "signature",
      "does not verify against the client certificate's key over the event's canonical signed form (RFC 8785)",
    ),
  };
}
