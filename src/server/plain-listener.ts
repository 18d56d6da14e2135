// The plain-HTTP listeners beside the mTLS one: --metrics-listen (metrics and health, for a
// local Prometheus) and --health-listen (health only, for load balancers on any address).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ListenAddress } from "../config/service-config.js";
import { createPlainRoutes } from "./create-fleet-server.js";
import { listenOn } from "./listen-on.js";
import type { Metrics } from "./metrics.js";

/** A started plain listener. */
export interface PlainListener {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Listens on `address` and serves the mTLS listener's plain routes without certificates:
 * every route for `metrics`, only /healthz and /readyz for `health` (anything else is 404).
 */
export async function startPlainListener(
  kind: "metrics" | "health",
  address: ListenAddress,
  deps: { metrics: Metrics; isReady: () => boolean },
): Promise<PlainListener> {
  const routes = createPlainRoutes(deps);
  if (kind === "health") routes.delete("/metrics");
  const server: Server = createServer((req, res) => {
    const route = routes.get((req.url ?? "").split("?")[0] ?? "");
    if (route !== undefined && (req.method === "GET" || req.method === "HEAD")) {
      return route(req, res);
    }
    res.writeHead(route === undefined ? 404 : 405).end();
  });
  await listenOn(server, address, `${kind}-listen`);
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Load balancers keep connections alive; they must not hold the shutdown open.
        server.closeIdleConnections();
      }),
  };
}
