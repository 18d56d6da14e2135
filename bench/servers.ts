// Starts the servers a run compares, each in its own process on the same certificates:
// nixfleet-cp (`bin/nixfleet-cp serve`, SQLite on a temp file or PostgreSQL) and the baselines.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchPki } from "./bench-pki.js";
import { killAllServers, type ServerProcess, spawnServer } from "./server-process.js";

const repo = new URL("..", import.meta.url).pathname;

/** The servers of a comparison. */
export type ServerKind = "bare" | "connect" | "grpc-js" | "nixfleet-cp";

/** Table labels of the servers. */
export const SERVER_LABELS: Record<ServerKind, string> = {
  bare: "bare node:http2",
  connect: "connect-node, empty handler",
  "grpc-js": "grpc-js, empty handler",
  "nixfleet-cp": "nixfleet-cp",
};

const tempDirs = new Set<string>();

/** A fresh temp dir, removed by {@link cleanupTemp} (also on error and on SIGINT). */
export function makeTempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "nixfleet-cp-bench-"));
  tempDirs.add(dir);
  return dir;
}

/** Kills every server still running and removes every temp dir. */
export function cleanupTemp(): void {
  killAllServers();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** Starts nixfleet-cp on a fresh SQLite file in its own temp dir, or on `databaseUrl`. */
export async function startNixfleet(
  pki: BenchPki,
  options: {
    serverArgs?: readonly string[];
    nodeArgs?: readonly string[];
    name?: string;
    /** A PostgreSQL URL (a fresh database); a temp SQLite file when absent. */
    databaseUrl?: string | undefined;
  } = {},
): Promise<ServerProcess & { readonly dir: string }> {
  const dir = makeTempDir();
  const server = await spawnServer({
    name: options.name ?? "nixfleet-cp",
    command: process.execPath,
    args: [
      ...(options.nodeArgs ?? []),
      join(repo, "bin/nixfleet-cp"),
      "serve",
      "--listen",
      "127.0.0.1:0",
      "--state-dir",
      dir,
      "--db",
      options.databaseUrl ?? join(dir, "nixfleet-cp.sqlite"),
      "--tls-cert",
      pki.serverCertPath,
      "--tls-key",
      pki.serverKeyPath,
      "--client-ca",
      pki.caPath,
      "--agent-cn-suffix",
      pki.suffix,
      "--metrics-listen",
      "127.0.0.1:0",
      ...(options.serverArgs ?? []),
    ],
    readyMessage: "nixfleet-cp listening",
    cwd: repo,
    logPath: join(dir, "server.log"),
  });
  return Object.assign(server, { dir });
}

/** Starts a baseline server process. */
export async function startBaseline(
  kind: "bare" | "connect" | "grpc-js",
  pki: BenchPki,
  nodeArgs: readonly string[] = [],
): Promise<ServerProcess> {
  const dir = makeTempDir();
  return spawnServer({
    name: SERVER_LABELS[kind],
    command: process.execPath,
    args: [
      ...nodeArgs,
      "--import",
      "tsx",
      join(repo, "bench/baseline-server.ts"),
      "--kind",
      kind,
      "--cert",
      pki.serverCertPath,
      "--key",
      pki.serverKeyPath,
      "--ca",
      pki.caPath,
    ],
    readyMessage: "bench baseline listening",
    cwd: repo,
    logPath: join(dir, "server.log"),
  });
}
