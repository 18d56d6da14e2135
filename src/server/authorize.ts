// Which certificate role each service needs, decided in one place for the request gate
// (before any body is read) and the auth interceptor (before any handler runs).

import { ServerReflection as ServerReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { AgentEventsService } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { HostService } from "../../gen/nixfleet/ops/v1/host_service_pb.js";
import { RolloutService } from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { PeerIdentity } from "./peer-identity.js";
import { type ServiceError, serviceError } from "./service-error.js";

/** A certificate role. */
export type Role = "agent" | "operator";

/** Who may use gRPC reflection (`--reflection`). */
export type ReflectionAccess = "operators" | "all" | "off";

/**
 * The role each service requires; services not listed (health, and reflection with "all")
 * accept any valid fleet certificate. Reflection answers large descriptor sets, so by
 * default only operators, who need it for `buf curl`, may ask.
 */
export function requiredRoles(
  reflection: ReflectionAccess = "operators",
): ReadonlyMap<string, Role> {
  const roles = new Map<string, Role>([
    [AgentEventsService.typeName, "agent"],
    [RolloutService.typeName, "operator"],
    [HostService.typeName, "operator"],
  ]);
  if (reflection !== "all") {
    roles.set(ServerReflectionV1.typeName, "operator");
    roles.set(ServerReflectionV1alpha.typeName, "operator");
  }
  return roles;
}

/** Why `peer` may not call `service`, or undefined when it may. */
export function authorize(
  peer: PeerIdentity | ServiceError | undefined,
  service: string,
  roles: ReadonlyMap<string, Role>,
): ServiceError | undefined {
  if (!(peer instanceof PeerIdentity)) {
    return peer ?? serviceError("unauthenticated", "a client certificate is required");
  }
  const role = roles.get(service);
  if (role === undefined || peer.role.kind === role) return undefined;
  const is = peer.role.kind === "agent" ? "an agent" : "an operator";
  return serviceError(
    "permission_denied",
    `${peer.commonName} is ${is}; ${service} requires the ${role} role`,
  );
}
