// The PostEvent pipeline shared by every surface (Connect, gRPC, gRPC-Web, the JSON binding):
// role → validation → hostname match → signature → cheap dedup → trySend → await the
// committed verdict. A refusal on the merits is recorded by the reducer before it is answered.
import { performance } from "node:perf_hooks";
import type { HostState } from "../core/domain.js";
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
import type { HeadLookup } from "../storage/record-head.js";
import type { RequestOrigin } from "../storage/refused-events.js";
import type { DecodeResult, PostEventInput } from "./convert/decode-post-event.js";
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

  return async (peer, decode, source) => {
    if (peer.role.kind !== "agent") {
      return reject(
        serviceError(
          "permission_denied",
          `${peer.commonName} is an operator and cannot post agent events`,
        ),
        { peer: peer.commonName },
      );
    }
    const machineId = peer.role.machineId;
    const decoded = decode();
    if (!decoded.ok) {
      const { field, message } = decoded.error;
      return reject(serviceError("invalid_argument", message, { field }), {
        peer: peer.commonName,
      });
    }
    const { hostname, rolloutId, event } = decoded.value;
    const context = {
      peer: peer.commonName,
      hostname,
      rolloutId,
      seq: event.seq,
      kind: event.kind,
    };
    if (hostname !== machineId) {
      return reject(
        serviceError(
          "permission_denied",
          `certificate machine id "${machineId}" may not post events for host "${hostname}"`,
        ),
        context,
      );
    }
    if (!isAccepting()) {
      return reject(unavailable("not accepting events (starting or shutting down)"), context);
    }
    const input = decoded.value;
    const checked =
      input.refusal !== undefined
        ? { refusal: input.refusal }
        : checkSignature(peer, input, requireSignatures);
    if (!storeReachable()) {
      observer?.onVerdict?.(event.kind, "unavailable");
      return reject(storeUnavailable(retryAfterSeconds), context);
    }
    if (checked.refusal === undefined) {
      // An unknown pair goes on to the reducer, which records the refusal durably. A record
      // missing seqs may take a late copy of one of them: the reducer decides that too.
      let head: Awaited<ReturnType<HeadLookup>>;
      try {
        head = await lookup(rolloutId, hostname);
      } catch (error) {
        onStoreError?.(error);
        observer?.onVerdict?.(event.kind, "unavailable");
        return reject(fromThrown(error, retryAfterSeconds), context);
      }
      if (head !== undefined && event.seq <= head.lastEventSeq && head.missingSeqCount === 0) {
        observer?.onVerdict?.(event.kind, "duplicate");
        return {
          outcome: "duplicate",
          state: head.state,
          lastEventSeq: head.lastEventSeq,
          seqGap: 0,
          missingSeqCount: 0,
          missingSeqs: [],
        };
      }
    }
    let settle!: (s: Settlement<BatchOutcome>) => void;
    const settled = new Promise<Settlement<BatchOutcome>>((resolve) => {
      settle = resolve;
    });
    const origin: RequestOrigin = {
      peer: peer.commonName,
      protocol: source.protocol,
      request: () => source.request(),
    };
    const pending: PendingItem<BatchItem, BatchOutcome> = {
      item: {
        rolloutId,
        hostname,
        event,
        signature: input.signature,
        origin,
        ...(checked.signed ? { signed: checked.signed } : {}),
        ...(checked.refusal ? { refusal: checked.refusal } : {}),
      },
      enqueuedAt: performance.now(),
      settle,
    };
    if (!channel.trySend(pending)) {
      observer?.onVerdict?.(event.kind, "shed");
      return reject(
        channel.closed ? unavailable("shutting down") : queueFull(retryAfterSeconds),
        context,
      );
    }
    const result = await settled;
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
      observer?.onRefused?.(refusal, source.protocol);
      reject(error, context);
      return { outcome: "refused", refusal, error };
    }
  };

  function unavailable(message: string): ServiceError {
    return serviceError("unavailable", message, { retryAfterSeconds });
  }
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
