// The PostEvent pipeline shared by every surface (Connect, gRPC, gRPC-Web, the JSON binding):
// role → validation → hostname match → cheap dedup → trySend → await the committed verdict.
import { performance } from "node:perf_hooks";
import type { HostState } from "../core/domain.js";
import { describeStepError } from "../core/step-error.js";
import type { BoundedChannel } from "../runtime/bounded-channel.js";
import type { PendingItem, Settlement } from "../runtime/reducer.js";
import type { BatchItem, BatchOutcome, WorkItem, WorkOutcome } from "../storage/apply-batch.js";
import type { HeadLookup } from "../storage/record-head.js";
import type { DecodeResult, PostEventInput } from "./convert/decode-post-event.js";
import { eventToBindingJson } from "./convert/event-json.js";
import type { PeerIdentity } from "./peer-identity.js";
import {
  fromThrown,
  queueFull,
  type ServiceError,
  serviceError,
  storeUnavailable,
} from "./service-error.js";
import { verifyEventSignature } from "./signature/verify-event-signature.js";

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

export type PostEventResult = PostEventVerdict | ServiceError;

/** Counts what happens to events, for metrics; every hook is optional. */
export interface PostEventObserver {
  onVerdict?(kind: string, outcome: string): void;
  onRejected?(error: ServiceError, context: RejectContext): void;
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

/** Handles one PostEvent: `decode` runs only after the caller is known to be an agent. */
export type PostEvent = (
  peer: PeerIdentity,
  decode: () => DecodeResult,
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

  return async (peer, decode) => {
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
    const signatureProblem = checkSignature(peer, decoded.value, requireSignatures);
    if (signatureProblem !== undefined) return reject(signatureProblem, context);
    if (!isAccepting()) {
      return reject(unavailable("not accepting events (starting or shutting down)"), context);
    }
    if (!storeReachable()) {
      observer?.onVerdict?.(event.kind, "unavailable");
      return reject(storeUnavailable(retryAfterSeconds), context);
    }
    let head: Awaited<ReturnType<HeadLookup>>;
    try {
      head = await lookup(rolloutId, hostname);
    } catch (error) {
      onStoreError?.(error);
      observer?.onVerdict?.(event.kind, "unavailable");
      return reject(fromThrown(error, retryAfterSeconds), context);
    }
    if (head === undefined) {
      observer?.onVerdict?.(event.kind, "not_found");
      return reject(notFound(rolloutId, hostname), context);
    }
    // A record missing seqs may take a late copy of one of them: the reducer decides that.
    if (event.seq <= head.lastEventSeq && head.missingSeqCount === 0) {
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
    let settle!: (s: Settlement<BatchOutcome>) => void;
    const settled = new Promise<Settlement<BatchOutcome>>((resolve) => {
      settle = resolve;
    });
    const pending: PendingItem<BatchItem, BatchOutcome> = {
      item: { rolloutId, hostname, event, signature: decoded.value.signature },
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
    // One spelling per outcome label: the lookup above reports a missing record as not_found.
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
        return reject(notFound(rolloutId, hostname), context);
      case "refused":
        return reject(
          serviceError("failed_precondition", describeStepError(outcome.error)),
          context,
        );
    }
  };

  function unavailable(message: string): ServiceError {
    return serviceError("unavailable", message, { retryAfterSeconds });
  }
}

/** Verifies a present signature against the client certificate's key (SPEC §9). */
function checkSignature(
  peer: PeerIdentity,
  input: PostEventInput,
  required: boolean,
): ServiceError | undefined {
  if (input.signature === null) {
    return required
      ? serviceError("invalid_argument", "signature: this control plane requires signed events", {
          field: "signature",
        })
      : undefined;
  }
  const key = peer.publicKey;
  const signed = input.rawEvent ?? eventToBindingJson(input.event);
  if (key === undefined || !verifyEventSignature(key, signed, input.signature)) {
    return serviceError(
      "invalid_argument",
      "signature: does not verify against the client certificate's key over the event's RFC 8785 canonical JSON",
      { field: "signature" },
    );
  }
  return undefined;
}

function notFound(rolloutId: string, hostname: string): ServiceError {
  return serviceError("not_found", `no record for host "${hostname}" in rollout "${rolloutId}"`);
}
