// The Heartbeat pipeline shared by every surface (Connect, gRPC, gRPC-Web, the JSON binding):
// role → validation → hostname match → trySend into the reducer's channel (in order with the
// host's events) → await the committed outcome (SPEC §8).
import { performance } from "node:perf_hooks";
import type { HostRolloutRecord } from "../core/domain.js";
import type { Instant } from "../core/instant.js";
import type { BoundedChannel } from "../runtime/bounded-channel.js";
import type { PendingItem, Settlement } from "../runtime/reducer.js";
import type {
  HeartbeatItem,
  HeartbeatOutcome,
  WorkItem,
  WorkOutcome,
} from "../storage/apply-batch.js";
import type { HeartbeatDecodeResult } from "./convert/decode-heartbeat.js";
import type { PeerIdentity } from "./peer-identity.js";
import type { RejectContext } from "./post-event.js";
import { queueFull, type ServiceError, serviceError } from "./service-error.js";

/** What a committed heartbeat answers. */
export interface HeartbeatVerdict {
  /** The heartbeat's `at`, to echo. */
  readonly at: Instant;
  /** `at` exactly as a JSON body spelled it, when it came from the binding. */
  readonly atText: string | undefined;
  readonly bootstrap: readonly HostRolloutRecord[];
  readonly replayFrom: number | null;
}

export type HeartbeatResult = HeartbeatVerdict | ServiceError;

/** Counts what happens to heartbeats, for metrics and logs; every hook is optional. */
export interface HeartbeatObserver {
  onOutcome?(outcome: "ok" | "shed" | "unavailable"): void;
  onRejected?(error: ServiceError, context: RejectContext): void;
}

export interface HeartbeatDeps {
  readonly channel: BoundedChannel<PendingItem<WorkItem, WorkOutcome>>;
  /** False before the reducer runs and once shutdown began. */
  readonly isAccepting: () => boolean;
  readonly retryAfterSeconds: number;
  readonly observer?: HeartbeatObserver;
}

/** Handles one heartbeat: `decode` runs only after the caller is known to be an agent. */
export type HandleHeartbeat = (
  peer: PeerIdentity,
  decode: () => HeartbeatDecodeResult,
) => Promise<HeartbeatResult>;

/** Creates the heartbeat pipeline over the channel the reducer drains. */
export function createHeartbeat(deps: HeartbeatDeps): HandleHeartbeat {
  const { channel, isAccepting, retryAfterSeconds, observer } = deps;
  const reject = (error: ServiceError, context: RejectContext): ServiceError => {
    observer?.onRejected?.(error, context);
    return error;
  };
  const unavailable = (message: string) =>
    serviceError("unavailable", message, { retryAfterSeconds });

  return async (peer, decode) => {
    if (peer.role.kind !== "agent") {
      return reject(
        serviceError(
          "permission_denied",
          `${peer.commonName} is an operator and cannot send heartbeats`,
        ),
        { peer: peer.commonName },
      );
    }
    const decoded = decode();
    if (!decoded.ok) {
      const { field, message } = decoded.error;
      return reject(serviceError("invalid_argument", message, { field }), {
        peer: peer.commonName,
      });
    }
    const { heartbeat, atText } = decoded.value;
    const context = {
      peer: peer.commonName,
      hostname: heartbeat.hostname,
      ...(heartbeat.rolloutId === null ? {} : { rolloutId: heartbeat.rolloutId }),
      kind: "Heartbeat",
    };
    const machineId = peer.role.machineId;
    if (heartbeat.hostname !== machineId) {
      return reject(
        serviceError(
          "permission_denied",
          `certificate machine id "${machineId}" may not send heartbeats for host "${heartbeat.hostname}"`,
        ),
        context,
      );
    }
    if (!isAccepting()) {
      return reject(unavailable("not accepting heartbeats (starting or shutting down)"), context);
    }
    let settle!: (s: Settlement<HeartbeatOutcome>) => void;
    const settled = new Promise<Settlement<HeartbeatOutcome>>((resolve) => {
      settle = resolve;
    });
    const pending: PendingItem<HeartbeatItem, HeartbeatOutcome> = {
      item: { heartbeat },
      enqueuedAt: performance.now(),
      settle,
    };
    if (!channel.trySend(pending)) {
      observer?.onOutcome?.("shed");
      return reject(
        channel.closed ? unavailable("shutting down") : queueFull(retryAfterSeconds),
        context,
      );
    }
    const result = await settled;
    if (!result.ok) {
      observer?.onOutcome?.("unavailable");
      return reject(unavailable("the commit failed; send the heartbeat again"), context);
    }
    observer?.onOutcome?.("ok");
    return {
      at: heartbeat.at,
      atText,
      bootstrap: result.outcome.bootstrap,
      replayFrom: result.outcome.replayFrom,
    };
  };
}
