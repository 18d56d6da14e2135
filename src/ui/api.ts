// The page's one client of the service: RolloutService over Connect JSON on the page's own
// origin (the browser presents the operator certificate on the TLS connection).
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { HostService } from "../../gen/nixfleet/ops/v1/host_service_pb.js";
import { RolloutService } from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";

/** A RolloutService client. */
export type Api = Client<typeof RolloutService>;
/** A HostService client (liveness). */
export type HostsApi = Client<typeof HostService>;

/** The client for the origin the page was loaded from. */
export function createApi(baseUrl: string = location.origin): Api {
  return createClient(RolloutService, createConnectTransport({ baseUrl, useBinaryFormat: false }));
}

/** The liveness client for the origin the page was loaded from. */
export function createHostsApi(baseUrl: string = location.origin): HostsApi {
  return createClient(HostService, createConnectTransport({ baseUrl, useBinaryFormat: false }));
}
