// Connect interceptors: role-based authorization per service, request metrics, and one log
// line per failed RPC.
import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { AgentEventsService } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { RolloutService } from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { authorize, type Role, requiredRoles } from "./authorize.js";
import type { Metrics } from "./metrics.js";
import { PeerIdentity } from "./peer-identity.js";
import { gateErrorKey, peerKey } from "./request-context.js";
import { codeName, fromThrown, toConnectError } from "./service-error.js";

/** What a log line about a refused or failed RPC says. */
export interface RpcFailure {
  readonly rpc: string;
  readonly code: string;
  readonly reason: string;
  readonly peer?: string;
}

/**
 * Every RPC needs an authenticated peer; agent and operator services (and reflection, unless
 * `--reflection all`) need that role. Health accepts any valid fleet certificate.
 */
export function createAuthInterceptor(
  onReject: (failure: RpcFailure) => void = () => {},
  roles: ReadonlyMap<string, Role> = requiredRoles(),
): Interceptor {
  return (next) => async (req) => {
    const peer = req.contextValues.get(peerKey);
    const rpc = `${req.service.typeName}/${req.method.name}`;
    // The gate refused the request before reading its body (role, framing, decoding).
    const error =
      req.contextValues.get(gateErrorKey) ?? authorize(peer, req.service.typeName, roles);
    if (error !== undefined) {
      onReject({
        rpc,
        code: error.code,
        reason: error.message,
        ...(peer instanceof PeerIdentity ? { peer: peer.commonName } : {}),
      });
      throw toConnectError(error);
    }
    return next(req);
  };
}

/**
 * Logs RPCs that fail after authorization, except the agent's (PostEvent, Heartbeat), whose
 * pipelines log their own rejections with the host, rollout and seq.
 */
export function createFailureLogInterceptor(log: (failure: RpcFailure) => void): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (error) {
      if (req.service.typeName !== AgentEventsService.typeName) {
        const e = ConnectError.from(error);
        const peer = req.contextValues.get(peerKey);
        log({
          rpc: `${req.service.typeName}/${req.method.name}`,
          code: codeName(e.code),
          reason: e.rawMessage,
          ...(peer instanceof PeerIdentity ? { peer: peer.commonName } : {}),
        });
      }
      throw error;
    }
  };
}

/** The protocol of a Connect request, from its content type. */
export function protocolOf(contentType: string | null): string {
  if (contentType === null) return "connect";
  if (contentType.startsWith("application/grpc-web")) return "grpc-web";
  if (contentType.startsWith("application/grpc")) return "grpc";
  return "connect";
}

/** Counts every answered RPC by method, protocol and code. */
export function createMetricsInterceptor(metrics: Metrics): Interceptor {
  return (next) => async (req) => {
    const rpc = `${req.service.typeName}/${req.method.name}`;
    const protocol = protocolOf(req.header.get("content-type"));
    try {
      const res = await next(req);
      metrics.requests.inc({ rpc, protocol, code: "ok" });
      return res;
    } catch (error) {
      const code = ConnectError.from(error).code;
      metrics.requests.inc({ rpc, protocol, code: codeName(code) });
      throw error;
    }
  };
}

/** What an audit line about an operator write says. */
export interface OperatorWrite {
  readonly rpc: string;
  /** The operator certificate's CN. */
  readonly operator: string;
  readonly rolloutId: string;
  /** Hosts named by the request. */
  readonly hosts: number;
  /** created / unchanged, or the Connect code name of the refusal. */
  readonly result: string;
}

// The operator RPCs that write, and how each names its result.
const WRITES: ReadonlyMap<string, (response: unknown) => string> = new Map([
  [
    `${RolloutService.typeName}/OpenRollout`,
    (res: unknown) => ((res as { created?: boolean }).created ? "created" : "unchanged"),
  ],
]);

/**
 * One audit line per operator write, successful or not: who (certificate CN) did what to
 * which rollout and how it ended. Runs after the auth interceptor, so only operators reach it.
 */
export function createAuditInterceptor(log: (write: OperatorWrite) => void): Interceptor {
  return (next) => async (req) => {
    const rpc = `${req.service.typeName}/${req.method.name}`;
    const resultOf = WRITES.get(rpc);
    const peer = req.contextValues.get(peerKey);
    if (resultOf === undefined || req.stream || !(peer instanceof PeerIdentity)) return next(req);
    const message = req.message as { rolloutId?: string; hosts?: readonly unknown[] };
    const write = {
      rpc,
      operator: peer.commonName,
      rolloutId: message.rolloutId ?? "",
      hosts: message.hosts?.length ?? 0,
    };
    try {
      const res = await next(req);
      log({ ...write, result: res.stream ? "ok" : resultOf(res.message) });
      return res;
    } catch (error) {
      log({ ...write, result: codeName(ConnectError.from(error).code) });
      throw error;
    }
  };
}

/**
 * Maps what a handler threw that is not a ConnectError (a store outage, a bug) through the
 * one error mapping, so no reply carries its message (addresses, SQL) and an outage is
 * `unavailable` with a retry hint; `onThrown` hears the original (the store health does).
 */
export function createErrorMappingInterceptor(
  retryAfterSeconds: number,
  onThrown: (error: unknown) => void = () => {},
): Interceptor {
  const map = (error: unknown): unknown => {
    if (error instanceof ConnectError) return error;
    onThrown(error);
    return toConnectError(fromThrown(error, retryAfterSeconds));
  };
  return (next) => async (req) => {
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (error) {
      // The peer is gone (closed, reset, or closed by a resource bound): nobody to answer.
      if (req.signal.aborted) throw error;
      throw map(error);
    }
    if (!res.stream) return res;
    const messages = res.message;
    return {
      ...res,
      message: (async function* () {
        try {
          yield* messages;
        } catch (error) {
          if (req.signal.aborted) throw error;
          throw map(error);
        }
      })(),
    };
  };
}
