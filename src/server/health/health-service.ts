// grpc.health.v1.Health over a HealthState, following gRPC's health-checking protocol
// (doc/health-checking.md): NOT_FOUND from Check, SERVICE_UNKNOWN from Watch.
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import type { HealthState } from "./health-state.js";

// Same bound as grpc-go's List, so a runaway number of names cannot make one huge response.
const MAX_LISTED_SERVICES = 100;

/** Implements Check, Watch and List over `state`. */
export function createHealthService(state: HealthState): ServiceImpl<typeof Health> {
  return {
    check(request) {
      const status = state.get(request.service);
      if (status === undefined) {
        throw new ConnectError(`unknown service ${JSON.stringify(request.service)}`, Code.NotFound);
      }
      return { status };
    },
    async *watch(request, context) {
      // The handler signal aborts when the client goes away or the server shuts down, which
      // ends the stream cleanly instead of leaving a watcher behind.
      for await (const status of state.watch(request.service, context.signal)) {
        yield { status };
      }
    },
    list() {
      const entries = state.entries();
      if (entries.size > MAX_LISTED_SERVICES) {
        throw new ConnectError(
          `${entries.size} services exceed the list limit of ${MAX_LISTED_SERVICES}`,
          Code.ResourceExhausted,
        );
      }
      // fromEntries defines own properties: a service named "__proto__" cannot swap the prototype.
      const statuses = Object.fromEntries([...entries].map(([name, status]) => [name, { status }]));
      return { statuses };
    },
  };
}
