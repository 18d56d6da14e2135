// Shared e2e fixtures: a throwaway PKI, the real service on 127.0.0.1 port 0 (in-process or
// spawned), and clients for every protocol, all over real mTLS.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as http2Connect } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import pino from "pino";
import { parseServeConfig, type ServiceConfig } from "../../src/config/service-config.js";
import { type Instant, parseInstant } from "../../src/core/instant.js";
import { createDevPki, type DevPki } from "../../src/pki/create-dev-pki.js";
import { issueCertificateAuthority } from "../../src/pki/issue-certificate-authority.js";
import { issueLeafCertificate } from "../../src/pki/issue-leaf-certificate.js";
import { systemClock } from "../../src/runtime/clock.js";
import { type RunningService, startService } from "../../src/server/start-service.js";
import { createDatabase } from "../../src/storage/database.js";
import { migrateToLatest } from "../../src/storage/migrate.js";
import { openRollout } from "../../src/storage/open-rollout.js";

export const SUFFIX = "fleet.lab.internal";
export const HOSTS = ["web-01", "web-02", "db-01", "h1", "h2", "h3", "h4"];

/** PEM material for one client. */
export interface Identity {
  readonly cert: string;
  readonly key: string;
}

/** Everything a test needs to talk to a server it started. */
export interface TestPki {
  readonly dir: string;
  readonly pki: DevPki;
  readonly ca: string;
  agent(host: string): Identity;
  readonly operator: Identity;
  /** A client certificate for web-01 from a CA the server does not trust. */
  readonly foreign: Identity;
  /** A client certificate for web-01 whose notBefore is one hour ago (for revocation). */
  readonly oldWeb01: Identity;
}

const read = (path: string) => readFileSync(path, "utf8");

/** Creates a PKI in a fresh temp dir (remove it with `rmSync(pki.dir, ...)`). */
export async function makeTestPki(): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), "nixfleet-e2e-"));
  const pki = await createDevPki(join(dir, "pki"), {
    agentCnSuffix: SUFFIX,
    hosts: HOSTS,
    operators: ["admin"],
  });
  const foreignCa = await issueCertificateAuthority({ commonName: "someone else's CA" });
  const foreign = await issueLeafCertificate(foreignCa, {
    commonName: `agent-web-01.${SUFFIX}`,
    role: "client",
  });
  const ownCa = { certPem: read(pki.caPath), keyPem: read(pki.caKeyPath) };
  const old = await issueLeafCertificate(ownCa, {
    commonName: `agent-web-01.${SUFFIX}`,
    role: "client",
    notBefore: new Date(Date.now() - 3600_000),
  });
  return {
    dir,
    pki,
    ca: read(pki.caPath),
    agent(host) {
      const a = pki.agents[host];
      if (a === undefined) throw new Error(`no agent certificate for ${host}`);
      return { cert: read(a.certPath), key: read(a.keyPath) };
    },
    operator: (() => {
      const o = pki.operators["admin"];
      if (o === undefined) throw new Error("no operator certificate");
      return { cert: read(o.certPath), key: read(o.keyPath) };
    })(),
    foreign: { cert: foreign.certPem, key: foreign.keyPem },
    oldWeb01: { cert: old.certPem, key: old.keyPem },
  };
}

/** The serve configuration of a test server: port 0, a database in the PKI's dir. */
export function testConfig(pki: TestPki, flags: readonly string[] = []): ServiceConfig {
  return parseServeConfig(spawnFlags(pki, ["--log-level", "silent", ...flags]), {});
}

/** A running in-process service. */
export interface TestServer {
  readonly service: RunningService;
  readonly url: string;
  readonly config: ServiceConfig;
}

/** Starts the real service in this process. */
export async function startTestServer(
  pki: TestPki,
  flags: readonly string[] = [],
): Promise<TestServer> {
  const config = testConfig(pki, flags);
  const service = await startService(config, pino({ level: "silent" }));
  return { service, config, url: `https://localhost:${service.port}` };
}

/** Opens a rollout straight in the store (soak 0 unless given). */
export async function openTestRollout(
  server: TestServer,
  rolloutId: string,
  hosts: readonly string[],
  options: {
    soakDurationSecs?: number;
    policy?: "halt" | "rollback-and-halt";
    target?: (h: string) => string;
    /** The CP time of the opening (default now). */
    now?: string;
  } = {},
): Promise<void> {
  const result = await openRollout(
    server.service.database.db,
    {
      rolloutId,
      channel: rolloutId.split("@")[0] as string,
      policy: options.policy ?? "rollback-and-halt",
      soakDurationSecs: options.soakDurationSecs ?? 0,
      hosts: hosts.map((h) => ({
        hostname: h,
        targetClosure: options.target?.(h) ?? `def456-nixos-system-${h}`,
      })),
    },
    options.now === undefined ? systemClock.now() : (parseInstant(options.now) as Instant),
  );
  if (!result.ok) throw new Error(result.message);
}

export type Protocol = "connect-json" | "connect-binary" | "grpc" | "grpc-web";
export const PROTOCOLS: readonly Protocol[] = [
  "connect-json",
  "connect-binary",
  "grpc",
  "grpc-web",
];

/** A transport of the given protocol presenting `identity`. */
export function transport(
  url: string,
  ca: string,
  identity: Identity | undefined,
  protocol: Protocol,
): Transport {
  const nodeOptions = { ca, ...(identity ? { cert: identity.cert, key: identity.key } : {}) };
  const base = { baseUrl: url, httpVersion: "2" as const, nodeOptions };
  switch (protocol) {
    case "connect-json":
      return createConnectTransport({ ...base, useBinaryFormat: false });
    case "connect-binary":
      return createConnectTransport({ ...base, useBinaryFormat: true });
    case "grpc":
      return createGrpcTransport(base);
    case "grpc-web":
      return createGrpcWebTransport({ ...base, useBinaryFormat: true });
  }
}

/** A typed client of `service`. */
export function client<S extends DescService>(
  service: S,
  url: string,
  ca: string,
  identity: Identity | undefined,
  protocol: Protocol = "connect-json",
): Client<S> {
  return createClient(service, transport(url, ca, identity, protocol));
}

/** A response of the JSON binding. */
export interface BindingResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** Sends one request to a plain route over HTTP/2 with a client certificate. */
export function request(
  url: string,
  ca: string,
  identity: Identity | undefined,
  options: { path: string; method?: string; body?: string; contentType?: string },
): Promise<BindingResponse> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(url, {
      ca,
      ...(identity ? { cert: identity.cert, key: identity.key } : {}),
    });
    session.on("error", reject);
    const headers: Record<string, string> = {
      ":method": options.method ?? "POST",
      ":path": options.path,
    };
    if (options.body !== undefined)
      headers["content-type"] = options.contentType ?? "application/json";
    const stream = session.request(headers);
    let status = 0;
    let responseHeaders: Record<string, string | string[] | undefined> = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      responseHeaders = h as Record<string, string | string[] | undefined>;
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      session.close();
      resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks).toString("utf8") });
    });
    stream.on("error", (error) => {
      session.destroy();
      reject(error);
    });
    stream.end(options.body);
  });
}

/** POSTs a body to the JSON binding. */
export function postBinding(
  url: string,
  ca: string,
  identity: Identity | undefined,
  body: unknown,
  contentType = "application/json",
): Promise<BindingResponse> {
  return request(url, ca, identity, {
    path: "/v1/agent/events",
    body: typeof body === "string" ? body : JSON.stringify(body),
    contentType,
  });
}

/** A spawned `bin/nixfleet-cp serve` process. */
export interface SpawnedServer {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  /** Everything the process wrote to stdout so far. */
  output(): string;
  /** Resolves with the exit code (or signal) once the process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns the server as its own process and waits until it listens. */
export async function spawnServer(config: {
  flags: readonly string[];
  command?: "serve" | "dev";
}): Promise<SpawnedServer> {
  const bin = new URL("../../bin/nixfleet-cp", import.meta.url).pathname;
  const child = spawn(process.execPath, [bin, config.command ?? "serve", ...config.flags], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}${err}`)), 30_000);
    const check = () => {
      const m = /"port":(\d+)[^\n]*"msg":"nixfleet-cp listening"/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout?.off("data", check);
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on("data", check);
    void exited.then(() => reject(new Error(`server exited early: ${out}${err}`)));
  });
  return { child, port, url: `https://localhost:${port}`, output: () => out + err, exited };
}

/**
 * The variable choosing the path PostEvent takes in every test server: unset or "on", the
 * lean path (the default); "off", connect-node's (scripts/run-tests.mjs runs the contract
 * suite both ways).
 */
export const LEAN_PATH_VARIABLE = "NIXFLEET_CP_TEST_LEAN_PATH";

/** The serve flags of a spawned test server. */
export function spawnFlags(pki: TestPki, extra: readonly string[] = []): string[] {
  const lean = process.env[LEAN_PATH_VARIABLE];
  return [
    ...(lean === undefined || lean === "" ? [] : ["--lean-path", lean]),
    "--listen",
    "127.0.0.1:0",
    "--state-dir",
    pki.dir,
    "--tls-cert",
    pki.pki.serverCertPath,
    "--tls-key",
    pki.pki.serverKeyPath,
    "--client-ca",
    pki.pki.caPath,
    "--agent-cn-suffix",
    SUFFIX,
    ...extra,
  ];
}

/** Removes a test's temp dir. */
export function cleanup(pki: TestPki): void {
  rmSync(pki.dir, { recursive: true, force: true });
}

/** Writes a revocations file and returns its path. */
export function writeRevocations(pki: TestPki, entries: unknown[]): string {
  const path = join(pki.dir, "revocations.json");
  writeFileSync(path, JSON.stringify(entries));
  return path;
}

/**
 * Opens `rolloutId` for every test host (target `next-<host>`, policy halt, no soak) straight
 * in the store at `db`, migrating it first: for servers spawned on that store afterwards.
 */
export async function openRolloutInStore(db: string, rolloutId: string): Promise<void> {
  const database = await createDatabase(db);
  try {
    await migrateToLatest(database);
    const result = await openRollout(
      database.db,
      {
        rolloutId,
        channel: rolloutId.split("@")[0] as string,
        policy: "halt",
        soakDurationSecs: 0,
        hosts: HOSTS.map((h) => ({ hostname: h, targetClosure: `next-${h}` })),
      },
      systemClock.now(),
    );
    if (!result.ok) throw new Error(result.message);
  } finally {
    await database.close();
  }
}
