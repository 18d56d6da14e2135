// Connect interceptors: role-based authorization per service and request metrics.
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { AgentEventsService } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { RolloutService } from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import type { Metrics } from "./metrics.js";
import { PeerIdentity } from "./peer-identity.js";
import { peerKey } from "./request-context.js";
import { serviceError, toConnectError } from "./service-error.js";

const REQUIRED_ROLE: ReadonlyMap<string, "agent" | "operator"> = new Map([
  [AgentEventsService.typeName, "agent"],
  [RolloutService.typeName, "operator"],
]);

/**
 * Every RPC needs an authenticated peer; agent and operator services need that role.
 * Other services (health, reflection) accept any valid fleet certificate.
 */
export function createAuthInterceptor(): Interceptor {
  return (next) => async (req) => {
    const peer = req.contextValues.get(peerKey);
    if (!(peer instanceof PeerIdentity)) {
      throw toConnectError(
        peer ?? serviceError("unauthenticated", "a client certificate is required"),
      );
    }
    const role = REQUIRED_ROLE.get(req.service.typeName);
    if (role !== undefined && peer.role.kind !== role) {
      throw toConnectError(
        serviceError(
          "permission_denied",
          `${peer.commonName} is ${peer.role.kind === "agent" ? "an agent" : "an operator"}; ${req.service.typeName} requires the ${role} role`,
        ),
      );
    }
    return next(req);
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
      metrics.requests.inc({
        rpc,
        protocol,
        code: Code[code].replace(/[A-Z]/g, (c, i) => (i === 0 ? c : `_${c}`)).toLowerCase(),
      });
      throw error;
    }
  };
}
