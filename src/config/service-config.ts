// The `serve` configuration: flags, each also settable as NIXFLEET_CP_<FLAG> in the
// environment (flags win), with defaults that run from a checkout with no setup.
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { describeFlagMistake } from "./flag-mistake.js";

/** A host and port to listen on. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** Resource bounds of the mTLS listener; every one is a flag with a documented default. */
export interface ConnectionLimits {
  /** Open TLS connections in total; more are refused at accept. */
  readonly maxConnections: number;
  /** Open connections per client certificate (machine id or operator CN). */
  readonly maxConnectionsPerPeer: number;
  /** Milliseconds a TCP connection may take to complete the TLS handshake. */
  readonly handshakeTimeoutMs: number;
  /** Milliseconds an HTTP/2 session (or HTTP/1.1 connection) may stay open with no request. */
  readonly idleTimeoutMs: number;
  /** Milliseconds a request may take to deliver its headers and whole body, and a connection with answers pending may read none of them. */
  readonly requestTimeoutMs: number;
  /** Bytes of responses buffered for one connection whose peer does not read; beyond, it is closed. */
  readonly maxBufferedBytesPerPeer: number;
  /** Bytes of responses buffered for all peers together; beyond, the largest holders are closed. */
  readonly maxBufferedBytes: number;
  /** HTTP/2 streams one connection may hold open (SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxStreamsPerConnection: number;
  /** HTTP/2 streams in flight on all connections together; beyond, new ones are refused. */
  readonly maxStreams: number;
}

/** Everything `serve` needs. */
export interface ServiceConfig {
  readonly listen: ListenAddress;
  readonly stateDir: string;
  /** SQLite path (or sqlite:PATH) or a postgres:// URL. */
  readonly db: string;
  readonly tlsCert: string;
  readonly tlsKey: string;
  readonly clientCa: string;
  readonly agentCnSuffix: string;
  readonly operatorCns: readonly string[];
  readonly revocations: string | undefined;
  readonly channelCapacity: number;
  readonly batchSize: number;
  readonly metricsListen: ListenAddress | undefined;
  /** Let --metrics-listen bind a non-loopback address (it has no TLS, no authentication). */
  readonly metricsListenAllowRemote: boolean;
  /** Plain HTTP /healthz and /readyz for load balancers, on any address. */
  readonly healthListen: ListenAddress | undefined;
  readonly maxMessageBytes: number;
  readonly retryAfterSeconds: number;
  readonly shutdownTimeoutMs: number;
  readonly logLevel: string;
  /** Refuse unsigned events (signed ones are always verified). */
  readonly requireSignatures: boolean;
  /** The agents' heartbeat interval; a host silent for 3 of them is unreachable. */
  readonly heartbeatIntervalMs: number;
  /** How the binding answers recorded refusals: 202 with the verdict, or 404/409/400. */
  readonly bindingRefusals: "record" | "status";
  /** Most distinct probe names one record may hold; a ProbeResult adding more is refused. */
  readonly maxProbesPerRecord: number;
  /** Most events one PostEvents call may hold (never more than the channel capacity). */
  readonly maxEventsPerCall: number;
  /** Per-peer and total resource bounds of the listener (src/server/connection-limits.ts). */
  readonly limits: ConnectionLimits;
  /** Who may call gRPC reflection: operators only (default), any fleet certificate, or none. */
  readonly reflection: "operators" | "all" | "off";
  /** Serve PostEvent's and PostEvents' common form on the HTTP/2 stream API (src/server/lean-path.ts). */
  readonly leanPath: "on" | "off";
  /** Milliseconds between store probes while the store is unreachable. */
  readonly storeProbeIntervalMs: number;
  /** Pause before each reducer batch; for tests that need a slow reducer. Keep 0. */
  readonly debugReducerDelayMs: number;
}

/** The flags of `serve`, with their help text. */
export const SERVE_FLAGS = {
  listen: {
    type: "string",
    help: "address to listen on (default 127.0.0.1:8443; port 0 picks one)",
  },
  "state-dir": {
    type: "string",
    help: "directory for the default database and PKI (default ./.state)",
  },
  db: {
    type: "string",
    help: "SQLite file path, sqlite:PATH, or postgres://URL (default <state-dir>/nixfleet-cp.sqlite)",
  },
  "tls-cert": {
    type: "string",
    help: "server certificate PEM (default <state-dir>/pki/server.pem)",
  },
  "tls-key": { type: "string", help: "server key PEM (default <state-dir>/pki/server-key.pem)" },
  "client-ca": { type: "string", help: "fleet client CA PEM (default <state-dir>/pki/ca.pem)" },
  "agent-cn-suffix": { type: "string", help: "agent CN suffix (default fleet.lab.internal)" },
  "operator-cn": {
    type: "string",
    multiple: true,
    help: "a CN treated as operator (repeatable; env: comma-separated)",
  },
  revocations: {
    type: "string",
    help: "JSON file of {hostname, notBefore, reason} entries, re-read on change",
  },
  "channel-capacity": { type: "string", help: "ingest channel capacity (default 1024)" },
  "batch-size": { type: "string", help: "largest reducer batch (default 256)" },
  "max-events-per-call": {
    type: "string",
    help: "most events one PostEvents call may hold (default 256, capped at --channel-capacity)",
  },
  "metrics-listen": {
    type: "string",
    help: "also serve /metrics, /healthz, /readyz over plain HTTP here (loopback only unless allowed)",
  },
  "metrics-listen-allow-remote": {
    type: "string",
    help: "true: let --metrics-listen bind a non-loopback address (no TLS, no auth; default false)",
  },
  "health-listen": {
    type: "string",
    help: "serve only /healthz and /readyz over plain HTTP here, any address (for load balancers)",
  },
  "max-message-bytes": { type: "string", help: "largest request accepted (default 1048576)" },
  "retry-after": { type: "string", help: "seconds hinted to shed clients (default 1)" },
  "shutdown-timeout": {
    type: "string",
    help: "milliseconds to drain on SIGTERM before closing (default 10000)",
  },
  "log-level": { type: "string", help: "pino level (default info)" },
  "require-signatures": {
    type: "string",
    help: "true: refuse events without a signature (present ones are always verified; default false)",
  },
  "heartbeat-interval": {
    type: "string",
    help: "agents' heartbeat interval, e.g. 60s or 500ms; unreachable after 3 missed (default 60s)",
  },
  "binding-refusals": {
    type: "string",
    help: "record: answer refused events 202 with the verdict so existing agents never wedge; status: 404/409/400 (default record)",
  },
  "max-probes-per-record": {
    type: "string",
    help: "most distinct probe names per host-rollout record; more are refused (default 256)",
  },
  "max-connections": { type: "string", help: "open TLS connections in total (default 10000)" },
  "max-connections-per-peer": {
    type: "string",
    help: "open connections per client certificate (default 64)",
  },
  "tls-handshake-timeout": {
    type: "string",
    help: "milliseconds to complete the TLS handshake (default 10000)",
  },
  "idle-timeout": {
    type: "string",
    help: "milliseconds a connection may stay open with no request in flight (default 120000)",
  },
  "request-timeout": {
    type: "string",
    help: "milliseconds a request may take to send its headers and body, and a connection with answers pending may read none (default 30000)",
  },
  "max-buffered-bytes-per-peer": {
    type: "string",
    help: "response bytes buffered for one connection that does not read before it is closed (default 4194304)",
  },
  "max-buffered-bytes": {
    type: "string",
    help: "response bytes buffered for all connections together before the largest are closed (default 134217728)",
  },
  "max-streams-per-connection": {
    type: "string",
    help: "HTTP/2 streams one connection may hold open; more are refused (default 32)",
  },
  "max-streams": {
    type: "string",
    help: "HTTP/2 streams in flight on all connections; beyond, connections holding 2 or more get new ones refused (default 512)",
  },
  reflection: {
    type: "string",
    help: "who may use gRPC reflection: operators (default), all, or off",
  },
  "lean-path": {
    type: "string",
    help: "on: serve PostEvent's and PostEvents' common form (unary POST over HTTP/2, identity) on the HTTP/2 stream API; off: every request through connect-node (default on)",
  },
  "store-probe-interval": {
    type: "string",
    help: "milliseconds between store probes while the store is unreachable (default 1000)",
  },
  "debug-reducer-delay-ms": {
    type: "string",
    help: "testing only: pause before each reducer batch",
  },
} as const;

type FlagName = keyof typeof SERVE_FLAGS;

/** A configuration problem, reported with exit code 2. */
export class ConfigError extends Error {}

function envName(flag: string): string {
  return `NIXFLEET_CP_${flag.toUpperCase().replaceAll("-", "_")}`;
}

/** Parses `host:port` (IPv6 in brackets). */
export function parseListen(text: string, flag: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  const port = Number(m?.[3]);
  if (m === null || !Number.isInteger(port) || port > 65535) {
    throw new ConfigError(`--${flag}: expected host:port, got "${text}"`);
  }
  return { host: (m[1] ?? m[2]) as string, port };
}

function positiveInt(text: string | undefined, flag: string, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min)
    throw new ConfigError(`--${flag}: expected an integer >= ${min}, got "${text}"`);
  return n;
}

// The plain metrics listener has no TLS and no authentication: keep it off the network
// unless the operator says otherwise (e.g. a Prometheus on a private network).
function loopbackOnly(address: ListenAddress, allowRemote: boolean): ListenAddress {
  if (!allowRemote && !/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(address.host)) {
    throw new ConfigError(
      `--metrics-listen: must be a loopback address (127.0.0.1, ::1), got "${address.host}"; --metrics-listen-allow-remote true allows it`,
    );
  }
  return address;
}

/** A positive interval: `<n>ms`, `<n>s`, `<n>m` or bare seconds. */
function intervalMs(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const m = /^(\d+)(ms|s|m)?$/.exec(text);
  const n = Number(m?.[1]);
  const ms = m === null ? Number.NaN : m[2] === "ms" ? n : m[2] === "m" ? n * 60_000 : n * 1000;
  if (!Number.isSafeInteger(ms) || ms < 1 || ms > 86_400_000) {
    throw new ConfigError(
      `--${flag}: expected e.g. 60s, 500ms or 2m (at most 1 day), got "${text}"`,
    );
  }
  return ms;
}

function booleanFlag(text: string | undefined, flag: string): boolean {
  if (text === undefined || text === "false" || text === "0") return false;
  if (text === "true" || text === "1") return true;
  throw new ConfigError(`--${flag}: expected true or false, got "${text}"`);
}

function oneOf<T extends string>(text: string | undefined, flag: string, values: readonly T[]): T {
  if (text === undefined) return values[0] as T;
  const match = values.find((v) => v === text);
  if (match === undefined)
    throw new ConfigError(`--${flag}: expected ${values.join(" or ")}, got "${text}"`);
  return match;
}

function reflectionMode(text: string | undefined): ServiceConfig["reflection"] {
  if (text === undefined) return "operators";
  if (text === "operators" || text === "all" || text === "off") return text;
  throw new ConfigError(`--reflection: expected operators, all or off, got "${text}"`);
}

/** Parses `serve` flags and environment into a configuration. */
export function parseServeConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): ServiceConfig {
  const options = Object.fromEntries(
    Object.entries(SERVE_FLAGS).map(([name, spec]) => [
      name,
      { type: "string" as const, multiple: "multiple" in spec ? spec.multiple : false },
    ]),
  );
  let values: Record<string, string | string[] | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new ConfigError(describeFlagMistake(error, Object.keys(SERVE_FLAGS)));
  }
  const get = (flag: FlagName): string | undefined => {
    const v = values[flag];
    if (typeof v === "string") return v;
    const e = env[envName(flag)];
    return e === undefined || e === "" ? undefined : e;
  };
  const stateDir = resolve(get("state-dir") ?? ".state");
  const pki = join(stateDir, "pki");
  const operatorFlags = values["operator-cn"];
  const operatorCns = Array.isArray(operatorFlags)
    ? operatorFlags
    : (env[envName("operator-cn")] ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
  const metricsListen = get("metrics-listen");
  const metricsListenAllowRemote = booleanFlag(
    get("metrics-listen-allow-remote"),
    "metrics-listen-allow-remote",
  );
  const healthListen = get("health-listen");
  return {
    listen: parseListen(get("listen") ?? "127.0.0.1:8443", "listen"),
    stateDir,
    db: get("db") ?? join(stateDir, "nixfleet-cp.sqlite"),
    tlsCert: get("tls-cert") ?? join(pki, "server.pem"),
    tlsKey: get("tls-key") ?? join(pki, "server-key.pem"),
    clientCa: get("client-ca") ?? join(pki, "ca.pem"),
    agentCnSuffix: get("agent-cn-suffix") ?? "fleet.lab.internal",
    operatorCns,
    revocations: get("revocations"),
    channelCapacity: positiveInt(get("channel-capacity"), "channel-capacity", 1024),
    batchSize: positiveInt(get("batch-size"), "batch-size", 256),
    maxEventsPerCall: positiveInt(get("max-events-per-call"), "max-events-per-call", 256),
    metricsListen:
      metricsListen === undefined
        ? undefined
        : loopbackOnly(parseListen(metricsListen, "metrics-listen"), metricsListenAllowRemote),
    metricsListenAllowRemote,
    healthListen:
      healthListen === undefined ? undefined : parseListen(healthListen, "health-listen"),
    maxMessageBytes: positiveInt(get("max-message-bytes"), "max-message-bytes", 1024 * 1024),
    retryAfterSeconds: positiveInt(get("retry-after"), "retry-after", 1),
    shutdownTimeoutMs: positiveInt(get("shutdown-timeout"), "shutdown-timeout", 10_000),
    logLevel: get("log-level") ?? "info",
    requireSignatures: booleanFlag(get("require-signatures"), "require-signatures"),
    heartbeatIntervalMs: intervalMs(get("heartbeat-interval"), "heartbeat-interval", 60_000),
    bindingRefusals: oneOf(get("binding-refusals"), "binding-refusals", ["record", "status"]),
    maxProbesPerRecord: positiveInt(get("max-probes-per-record"), "max-probes-per-record", 256),
    limits: {
      maxConnections: positiveInt(get("max-connections"), "max-connections", 10_000),
      maxConnectionsPerPeer: positiveInt(
        get("max-connections-per-peer"),
        "max-connections-per-peer",
        64,
      ),
      handshakeTimeoutMs: positiveInt(
        get("tls-handshake-timeout"),
        "tls-handshake-timeout",
        10_000,
      ),
      idleTimeoutMs: positiveInt(get("idle-timeout"), "idle-timeout", 120_000),
      requestTimeoutMs: positiveInt(get("request-timeout"), "request-timeout", 30_000),
      maxBufferedBytesPerPeer: positiveInt(
        get("max-buffered-bytes-per-peer"),
        "max-buffered-bytes-per-peer",
        4 * 1024 * 1024,
      ),
      maxBufferedBytes: positiveInt(
        get("max-buffered-bytes"),
        "max-buffered-bytes",
        128 * 1024 * 1024,
      ),
      maxStreamsPerConnection: positiveInt(
        get("max-streams-per-connection"),
        "max-streams-per-connection",
        32,
      ),
      maxStreams: positiveInt(get("max-streams"), "max-streams", 512),
    },
    reflection: reflectionMode(get("reflection")),
    leanPath: oneOf(get("lean-path"), "lean-path", ["on", "off"]),
    storeProbeIntervalMs: positiveInt(get("store-probe-interval"), "store-probe-interval", 1000),
    debugReducerDelayMs: positiveInt(get("debug-reducer-delay-ms"), "debug-reducer-delay-ms", 0, 0),
  };
}
