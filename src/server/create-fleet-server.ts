// The mTLS listener: one HTTP/2 server (HTTP/1.1 allowed) that requires a client certificate
// from the fleet CA and routes to the JSON binding, plain routes, or the Connect adapter.
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from "node:http2";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { type ConnectRouter, createContextValues, type Interceptor } from "@connectrpc/connect";
import type { ConnectionLimits } from "../config/service-config.js";
import { type Role, requiredRoles } from "./authorize.js";
import { createRequestGate } from "./connect-gate.js";
import { createConnectHandler } from "./connect-handler.js";
import { applyConnectionLimits, listenerOptions } from "./connection-limits.js";
import {
  createEarlyShed,
  createStreamShed,
  HEARTBEAT_RPC_PATH,
  POST_EVENT_RPC_PATH,
  POST_EVENTS_RPC_PATH,
  type ShedProtocol,
} from "./early-shed.js";
import { createEventsBatchBinding, POST_EVENTS_PATH } from "./events-batch-binding.js";
import type { HandleHeartbeat } from "./heartbeat.js";
import { createHeartbeatBinding, HEARTBEAT_PATH } from "./heartbeat-binding.js";
import { type BindingRefusals, createHttpBinding, POST_EVENT_PATH } from "./http-binding.js";
import type { RpcFailure } from "./interceptors.js";
import { createLeanPath, type LeanMethod } from "./lean-path.js";
import type { Metrics } from "./metrics.js";
import {
  authenticatePeer,
  type IdentityConfig,
  PeerIdentity,
  type RevocationLookup,
  tlsSocketOf,
} from "./peer-identity.js";
import type { PostEvent } from "./post-event.js";
import type { PostEvents } from "./post-events.js";
import { peerKey } from "./request-context.js";
import { type ServiceError, serviceError, toHttpError } from "./service-error.js";
import { createStatusPage, isStatusPagePath } from "./status-page.js";
import { rememberPeerAddresses } from "./tls-handshake-failures.js";

type Request = IncomingMessage | Http2ServerRequest;
// Both response kinds share this surface; their writeHead overloads do not unify.
type Response = ServerResponse;

export interface FleetServerOptions {
  readonly tls: {
    readonly cert: string | Buffer;
    readonly key: string | Buffer;
    readonly ca: string | Buffer;
  };
  readonly identity: IdentityConfig;
  readonly revocations: RevocationLookup;
  readonly routes: (router: ConnectRouter) => void;
  readonly interceptors: readonly Interceptor[];
  readonly postEvent: PostEvent;
  readonly postEvents: PostEvents;
  readonly heartbeat: HandleHeartbeat;
  /** How the binding answers recorded refusals (default record). */
  readonly bindingRefusals?: BindingRefusals;
  readonly metrics: Metrics;
  /** Largest request message or binding body accepted. */
  readonly maxMessageBytes: number;
  /** Whether the service accepts work (for /readyz). */
  readonly isReady: () => boolean;
  /** True while the ingest channel is full: PostEvent and Heartbeat are then shed before any parsing. */
  readonly isSaturated: () => boolean;
  /** The retry delay hinted when shedding. */
  readonly retryAfterSeconds: number;
  /** Logs a binding request refused before its pipeline (PostEvent or Heartbeat), by route. */
  readonly onRefused?: (error: ServiceError, peer: string | undefined, route: string) => void;
  /** Observes failed TLS handshakes (see tls-handshake-failures.ts). */
  readonly onTlsClientError?: (error: Error, socket: TLSSocket) => void;
  /** Per-peer and total resource bounds (connection-limits.ts); unbounded when absent. */
  readonly limits?: ConnectionLimits;
  /** The role each service requires (default: reflection for operators only). */
  readonly roles?: ReadonlyMap<string, Role>;
  /** Aborted once every accepted event was answered: ends the streams still open. */
  readonly shutdownSignal: AbortSignal;
  /**
   * Methods served on the lean path (lean-path.ts) in their common form; none (the default,
   * or `--lean-path off`) sends every request through connect-node.
   */
  readonly leanMethods?: readonly LeanMethod[];
  /** Hears lean-path refusals before the implementation (as the auth interceptor's onReject). */
  readonly onRpcRejected?: (failure: RpcFailure) => void;
  /** Hears what a lean-path implementation threw (as the error-mapping interceptor's onThrown). */
  readonly onThrown?: (error: unknown) => void;
}

/** The listener and what graceful shutdown needs. */
export interface FleetServer {
  readonly server: Http2SecureServer;
  /** Stops accepting new connections; open ones keep working. */
  stopAccepting(): Promise<void>;
  /** Closes every connection once its open streams finish, or forcibly after `timeoutMs`. */
  closeConnections(timeoutMs: number): Promise<void>;
}

/** Creates (but does not start) the mTLS server. */
export function createFleetServer(options: FleetServerOptions): FleetServer {
  const { identity, revocations, metrics, isReady } = options;
  const authenticate = (req: Request): PeerIdentity | ServiceError =>
    authenticatePeer(tlsSocketOf(req as never), identity, revocations);

  const connect = createConnectHandler({
    routes: options.routes,
    interceptors: [...options.interceptors],
    readMaxBytes: options.maxMessageBytes,
    writeMaxBytes: 16 * 1024 * 1024,
    jsonOptions: { ignoreUnknownFields: false },
    shutdownSignal: options.shutdownSignal,
    contextValues: (req) => createContextValues().set(peerKey, authenticate(req)),
    gate: createRequestGate({
      readMaxBytes: options.maxMessageBytes,
      roles: options.roles ?? requiredRoles(),
    }),
  });
  const refusedOn = options.onRefused;
  const onRefused =
    refusedOn === undefined
      ? undefined
      : (route: string) => (error: ServiceError, peer: string | undefined) =>
          refusedOn(error, peer, route);
  const binding = createHttpBinding({
    postEvent: options.postEvent,
    authenticate,
    maxBodyBytes: options.maxMessageBytes,
    ...(options.bindingRefusals ? { refusals: options.bindingRefusals } : {}),
    ...(onRefused ? { onRefused: onRefused(`POST ${POST_EVENT_PATH}`) } : {}),
    onResponse: (status) =>
      metrics.httpRequests.inc({ route: `POST ${POST_EVENT_PATH}`, status: String(status) }),
  });
  const batchBinding = createEventsBatchBinding({
    postEvents: options.postEvents,
    authenticate,
    maxBodyBytes: options.maxMessageBytes,
    ...(options.bindingRefusals ? { refusals: options.bindingRefusals } : {}),
    ...(onRefused ? { onRefused: onRefused(`POST ${POST_EVENTS_PATH}`) } : {}),
    onResponse: (status) =>
      metrics.httpRequests.inc({ route: `POST ${POST_EVENTS_PATH}`, status: String(status) }),
  });
  const heartbeatBinding = createHeartbeatBinding({
    heartbeat: options.heartbeat,
    authenticate,
    maxBodyBytes: options.maxMessageBytes,
    ...(onRefused ? { onRefused: onRefused(`POST ${HEARTBEAT_PATH}`) } : {}),
    onResponse: (status) =>
      metrics.httpRequests.inc({ route: `POST ${HEARTBEAT_PATH}`, status: String(status) }),
  });
  // Door-level shedding: what a full channel would refuse anyway, by path.
  const shedPaths = new Map<string, { rpc: string; binding: boolean; kind: string }>([
    [POST_EVENT_PATH, { rpc: `POST ${POST_EVENT_PATH}`, binding: true, kind: "event" }],
    [POST_EVENT_RPC_PATH, { rpc: POST_EVENT_RPC_PATH.slice(1), binding: false, kind: "event" }],
    // A shed batch's events are unknown (its body is never read): counted as requests only.
    [POST_EVENTS_PATH, { rpc: `POST ${POST_EVENTS_PATH}`, binding: true, kind: "batch" }],
    [POST_EVENTS_RPC_PATH, { rpc: POST_EVENTS_RPC_PATH.slice(1), binding: false, kind: "batch" }],
    [HEARTBEAT_PATH, { rpc: `POST ${HEARTBEAT_PATH}`, binding: true, kind: "heartbeat" }],
    [HEARTBEAT_RPC_PATH, { rpc: HEARTBEAT_RPC_PATH.slice(1), binding: false, kind: "heartbeat" }],
  ]);
  const plain = createPlainRoutes({ metrics, isReady, authenticate });
  const statusPage = createStatusPage({ authenticate });
  const shed = createEarlyShed(options.retryAfterSeconds);
  const isSaturated = options.isSaturated;
  const countShed = (
    shedding: { rpc: string; binding: boolean; kind: string },
    protocol: ShedProtocol,
  ) => {
    if (shedding.binding) metrics.httpRequests.inc({ route: shedding.rpc, status: "503" });
    else metrics.requests.inc({ rpc: shedding.rpc, protocol, code: "resource_exhausted" });
    if (shedding.kind === "event") metrics.events.inc({ kind: "unknown", outcome: "shed" });
    else if (shedding.kind === "heartbeat") metrics.heartbeats.inc({ outcome: "shed" });
  };

  const server = createSecureServer(
    {
      cert: options.tls.cert,
      key: options.tls.key,
      ca: options.tls.ca,
      requestCert: true,
      rejectUnauthorized: true,
      allowHTTP1: true,
      minVersion: "TLSv1.2",
      // Node's default is unlimited streams per connection; bound what one peer can hold open
      // so memory stays bounded however many requests a client pipelines. The listener's
      // limits (--max-streams-per-connection) replace this when given.
      settings: { maxConcurrentStreams: 256 },
      ...(options.limits ? listenerOptions(options.limits) : {}),
    },
    (req: Request, res: ServerResponse | Http2ServerResponse) => {
      const url = req.url ?? "";
      const path = url.includes("?") ? url.slice(0, url.indexOf("?")) : url;
      const shedding = req.method === "POST" ? shedPaths.get(path) : undefined;
      if (shedding !== undefined && isSaturated()) {
        countShed(shedding, shed(req, res as Response, shedding.binding));
        return;
      }
      if (path === POST_EVENT_PATH) return binding(req, res as Response);
      if (path === POST_EVENTS_PATH) return batchBinding(req, res as Response);
      if (path === HEARTBEAT_PATH) return heartbeatBinding(req, res as Response);
      const route = plain.get(path);
      if (route !== undefined) return route(req, res as Response);
      if (isStatusPagePath(path)) return statusPage(req, res as Response, path);
      return connect(req, res as Response);
    },
  );

  const limiter = options.limits
    ? applyConnectionLimits(server, options.limits, metrics.registry)
    : undefined;
  if (options.leanMethods !== undefined && options.leanMethods.length > 0) {
    const streamShed = createStreamShed(options.retryAfterSeconds);
    const lean = createLeanPath({
      methods: options.leanMethods,
      authenticate: (socket) => authenticatePeer(socket, identity, revocations),
      roles: options.roles ?? requiredRoles(),
      readMaxBytes: options.maxMessageBytes,
      metrics,
      retryAfterSeconds: options.retryAfterSeconds,
      isSaturated,
      shed: (stream, contentType, rpc) => {
        const shedding = shedPaths.get(`/${rpc}`);
        const protocol = streamShed(stream, contentType);
        if (shedding !== undefined) countShed(shedding, protocol);
      },
      ...(options.onRpcRejected ? { onRejected: options.onRpcRejected } : {}),
      ...(options.onThrown ? { onThrown: options.onThrown } : {}),
      ...(limiter ? { limiter } : {}),
    });
    // Every HTTP/2 stream reaches the server's 'stream' event (after the connection limits
    // admitted it); Node's compat layer listens there to build request objects. The lean path
    // answers its requests first and hands every other stream to that listener unchanged.
    const compat = server.listeners("stream") as ((...args: unknown[]) => void)[];
    server.removeAllListeners("stream");
    server.on("stream", (stream, headers, ...rest: unknown[]) => {
      if (lean(stream, headers)) return;
      for (const listener of compat) listener.call(server, stream, headers, ...rest);
    });
  }
  const sessions = new Set<ServerHttp2Session>();
  const sockets = new Set<Socket>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  server.on("secureConnection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  // A failed handshake (no or foreign certificate) is the client's problem, not ours: it is
  // counted and logged (rate-limited) by the handler, never thrown.
  rememberPeerAddresses(server);
  server.on("tlsClientError", options.onTlsClientError ?? (() => {}));

  let listening: Promise<void> | undefined;
  return {
    server,
    stopAccepting() {
      listening ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return Promise.resolve();
    },
    async closeConnections(timeoutMs) {
      limiter?.stop();
      listening ??= new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      for (const socket of sockets) {
        // HTTP/1.1 keep-alive sockets end here; HTTP/2 sessions close themselves above.
        if ((socket as { alpnProtocol?: string | false }).alpnProtocol !== "h2") socket.end();
      }
      const timer = setTimeout(() => {
        for (const session of sessions) session.destroy();
        for (const socket of sockets) socket.destroy();
      }, timeoutMs);
      await listening;
      clearTimeout(timer);
    },
  };
}

/**
 * GET /healthz (alive), /readyz (accepting events), /metrics (operator certificates; with no
 * `authenticate`, as on the plain loopback listener, anyone who can connect).
 */
export function createPlainRoutes(deps: {
  metrics: Metrics;
  isReady: () => boolean;
  authenticate?: (req: Request) => PeerIdentity | ServiceError;
}): Map<string, (req: Request, res: Response) => void> {
  const routes = new Map<string, (req: Request, res: Response) => void>();
  const text = (
    res: Response,
    status: number,
    body: string,
    type = "text/plain; charset=utf-8",
  ) => {
    res.writeHead(status, { "content-type": type });
    res.end(body);
  };
  routes.set("/healthz", (_req, res) => text(res, 200, "ok\n"));
  routes.set("/readyz", (_req, res) => {
    if (deps.isReady()) text(res, 200, "ready\n");
    else {
      res.writeHead(503, { "content-type": "text/plain; charset=utf-8", "retry-after": "1" });
      res.end("not ready\n");
    }
  });
  routes.set("/metrics", (req, res) => {
    if (deps.authenticate === undefined) return serveMetrics(deps.metrics, res);
    const peer = deps.authenticate(req);
    const denied = !(peer instanceof PeerIdentity)
      ? peer
      : peer.role.kind !== "operator"
        ? serviceError("permission_denied", "/metrics requires an operator certificate")
        : undefined;
    if (denied !== undefined) {
      const { status, headers, body } = toHttpError(denied);
      res.writeHead(status, headers);
      res.end(body);
      return;
    }
    serveMetrics(deps.metrics, res);
  });
  return routes;
}

/** Writes the registry in Prometheus text format. */
export function serveMetrics(metrics: Metrics, res: Response): void {
  metrics.registry.metrics().then(
    (body) => {
      res.writeHead(200, { "content-type": metrics.registry.contentType });
      res.end(body);
    },
    (error: unknown) => {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(error));
    },
  );
}
