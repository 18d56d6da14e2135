// Registers grpc.health.v1.Health on a Connect router, since Connect for Node ships none
// (connect-es issue 797).
import type { ConnectRouter } from "@connectrpc/connect";
import { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import { createHealthService } from "./health-service.js";
import type { HealthState } from "./health-state.js";

/**
 * Registers `grpc.health.v1.Health` (Check, Watch, List) answering from `state`. Pass `Health`
 * to `registerReflection` too so reflection lists it.
 */
export function registerHealth(router: ConnectRouter, state: HealthState): void {
  router.service(Health, createHealthService(state));
}
