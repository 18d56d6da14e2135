// Registers gRPC server reflection (v1 and v1alpha) on a Connect router, since Connect for Node
// ships none (connect-es issues 507 and 797).
import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { ServerReflection as ServerReflectionV1 } from "../../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { createReflectionServices } from "./reflection-services.js";

/**
 * Registers `grpc.reflection.v1.ServerReflection` and `grpc.reflection.v1alpha.ServerReflection`
 * on `router`, describing `services` (every other service the router serves, Health included)
 * and the two reflection services themselves.
 *
 * Reflection is a bidi stream, so clients reach it over HTTP/2 only.
 */
export function registerReflection(router: ConnectRouter, services: readonly DescService[]): void {
  const reflection = createReflectionServices(services);
  // No per-service handler options: connect's router would re-enable protocols the router disabled.
  router.service(ServerReflectionV1, reflection.v1);
  router.service(ServerReflectionV1alpha, reflection.v1alpha);
}
