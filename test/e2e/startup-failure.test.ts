// A startup that fails after the store is open (the port is taken): `serve` says which address
// and why, exits 1, and closes everything it opened (store, LISTEN connection, reducer,
// listeners), on SQLite and PostgreSQL alike.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:net";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { testPostgresUrl } from "../test-postgres.js";
import { cleanup, makeTestPki, spawnFlags, type TestPki } from "./harness.js";

const ADMIN_URL = await testPostgresUrl();
const BIN = new URL("../../bin/nixfleet-cp", import.meta.url).pathname;
const START_ONCE = new URL("./start-once.ts", import.meta.url).pathname;
/** Far more than a clean startup failure takes; a leaked socket or timer holds it forever. */
const EXIT_WITHIN_MS = 20_000;

interface Exit {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a process to its own end; fails the test if it is still running after the bound. */
function run(args: readonly string[]): Promise<Exit> {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`still running ${EXIT_WITHIN_MS} ms after a failed startup: ${stderr}`));
    }, EXIT_WITHIN_MS);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function occupy(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address ? address.port : 0 });
    }),
  );
}

describe("a startup that fails once the store is open", () => {
  let pki: TestPki;
  let taken: { server: Server; port: number };
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  const dbName = `nixfleet_start_${randomBytes(6).toString("hex")}`;
  let pgUrl: string;

  before(async () => {
    pki = await makeTestPki();
    taken = await occupy();
    await admin.connect();
    await admin.query(`create database ${dbName}`);
    const url = new URL(ADMIN_URL);
    url.pathname = `/${dbName}`;
    pgUrl = url.toString();
  });
  after(async () => {
    taken.server.close();
    await admin.query(`drop database if exists ${dbName} with (force)`);
    await admin.end();
    cleanup(pki);
  });

  const onTakenPort = (extra: readonly string[] = []) =>
    spawnFlags(pki, ["--log-level", "silent", ...extra]).map((f) =>
      f === "127.0.0.1:0" ? `127.0.0.1:${taken.port}` : f,
    );

  test("serve on a taken port exits 1 and names the address", async () => {
    const exit = await run([BIN, "serve", ...onTakenPort()]);
    assert.equal(exit.code, 1);
    assert.equal(
      exit.stderr,
      `nixfleet-cp: listen 127.0.0.1:${taken.port}: address already in use\n`,
    );
  });

  for (const dialect of ["sqlite", "postgres"] as const) {
    test(`${dialect}: nothing stays open after a taken port, so the process ends by itself`, async () => {
      const db = dialect === "postgres" ? ["--db", pgUrl] : [];
      const exit = await run(["--import", "tsx", START_ONCE, ...onTakenPort(db)]);
      assert.equal(exit.code, 1);
      assert.equal(exit.stderr, `listen 127.0.0.1:${taken.port}: address already in use\n`);
      if (dialect === "postgres") {
        // The child has exited; its backends end as soon as PostgreSQL sees the sockets close.
        const deadline = Date.now() + 5000;
        let left = -1;
        while (left !== 0 && Date.now() < deadline) {
          const { rows } = await admin.query<{ n: number }>(
            "select count(*)::int as n from pg_stat_activity where datname = $1",
            [dbName],
          );
          left = rows[0]?.n ?? -1;
          if (left !== 0) await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(left, 0, "connections to the test database left open");
      }
    });
  }

  test("a taken --metrics-listen port closes the mTLS listener already bound too", async () => {
    const flags = spawnFlags(pki, [
      "--log-level",
      "silent",
      "--metrics-listen",
      `127.0.0.1:${taken.port}`,
    ]);
    const exit = await run(["--import", "tsx", START_ONCE, ...flags]);
    assert.equal(exit.code, 1);
    assert.equal(exit.stderr, `metrics-listen 127.0.0.1:${taken.port}: address already in use\n`);
  });

  test("the same flags on a free port start (the failures above are the port's)", async () => {
    const exit = await run([
      "--import",
      "tsx",
      START_ONCE,
      ...spawnFlags(pki, ["--log-level", "silent"]),
    ]);
    assert.equal(exit.code, 0, exit.stderr);
    assert.equal(exit.stdout, "started\n");
  });
});
