// The rollout commands as child processes against a spawned server over mTLS: open, status,
// history and watch in text and --json, with events posted through the JSON binding.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { cli as runCli, running, startCli } from "./cli-harness.js";
import {
  cleanup,
  makeTestPki,
  postBinding,
  type SpawnedServer,
  spawnFlags,
  spawnServer,
  type TestPki,
} from "./harness.js";

const ROLLOUT = "stable@0c1a";
const HOSTS = ["web-01", "web-02", "db-01", "h1"];

const cli = (args: readonly string[], env?: NodeJS.ProcessEnv) => runCli(args, { env });

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const jsonLines = (text: string) =>
  text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, Record<string, unknown>>);

describe("nixfleet-cp rollout commands against a spawned server", () => {
  let pki: TestPki;
  let server: SpawnedServer;
  let conn: string[];

  const post = async (host: string, event: Record<string, unknown>) => {
    const res = await postBinding(server.url, pki.ca, pki.agent(host), {
      hostname: host,
      rolloutId: ROLLOUT,
      event,
    });
    assert.equal(res.status, 204, `${host} ${String(event["kind"])}: ${res.body}`);
  };
  const now = () => new Date().toISOString();

  before(async () => {
    pki = await makeTestPki();
    server = await spawnServer({ flags: spawnFlags(pki) });
    const operator = pki.pki.operators["admin"];
    assert.ok(operator);
    conn = [
      "--server",
      server.url,
      "--ca",
      pki.pki.caPath,
      "--cert",
      operator.certPath,
      "--key",
      operator.keyPath,
    ];
  });

  after(async () => {
    for (const child of running) child.kill("SIGKILL");
    if (server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill("SIGTERM");
      await server.exited;
    }
    cleanup(pki);
  });

  test("rollout open creates, is unchanged on repeat, and refuses a conflicting re-open", async () => {
    const hostFlags = HOSTS.flatMap((h) => ["--host", `${h}=def456-nixos-system-${h}`]);
    const open = ["rollout", "open", ROLLOUT, "--policy", "rollback-and-halt", "--soak", "0"];
    const created = await cli([...open, ...hostFlags, ...conn]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^created rollout stable@0c1a: 4 hosts, policy rollback-and-halt/);

    const again = await cli([...open, ...hostFlags, ...conn]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^unchanged: .*4 hosts/);

    const json = await cli([...open, ...hostFlags, ...conn, "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const res = JSON.parse(json.stdout) as {
      created: boolean;
      hostCount: number;
      rollout: { id: string; onHealthFailure: string; soakDuration: string };
    };
    assert.equal(res.created, false);
    assert.equal(res.hostCount, 4);
    assert.equal(res.rollout.id, ROLLOUT);
    assert.equal(res.rollout.onHealthFailure, "HEALTH_FAILURE_POLICY_ROLLBACK_AND_HALT");
    assert.equal(res.rollout.soakDuration, "0s");

    const conflict = await cli([
      "rollout",
      "open",
      ROLLOUT,
      "--policy",
      "halt",
      "--soak",
      "10m",
      ...hostFlags,
      ...conn,
    ]);
    assert.equal(conflict.code, 1);
    assert.equal(conflict.stdout, "");
    assert.match(conflict.stderr, /exists with a different/);
  });

  test("rollout open reads --hosts-file and the connection from the environment", async () => {
    const file = join(pki.dir, "hosts.json");
    writeFileSync(file, JSON.stringify([{ hostname: "h2", targetClosure: "def-h2" }]));
    const [, server_, , ca, , cert, , key] = conn;
    const r = await cli(
      ["rollout", "open", "canary@0b", "--policy", "halt", "--soak", "1h30m", "--hosts-file", file],
      {
        NIXFLEET_CP_SERVER: server_ as string,
        NIXFLEET_CP_CA: ca as string,
        NIXFLEET_CP_CERT: cert as string,
        NIXFLEET_CP_KEY: key as string,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^created rollout canary@0b: 1 host, policy halt, soak 1h30m/);
  });

  test("rollout watch sees the snapshot, then each change; SIGINT exits 0", async () => {
    const json = startCli(["rollout", "watch", ROLLOUT, "--json", ...conn]);
    const text = startCli(["rollout", "watch", ROLLOUT, ...conn]);
    await until("the JSON watch's snapshot", () => json.stdout().includes("snapshotComplete"));
    await until("the text watch's snapshot", () => text.stderr().includes("watching"));

    // web-01 stays Activating; web-02 converges; db-01 fails activation; h1 stays Pending.
    await post("web-01", {
      kind: "DispatchAck",
      currentClosureAtDispatch: "abc-web-01-prev",
      receivedAt: now(),
      seq: 1,
    });
    await post("web-02", {
      kind: "DispatchAck",
      currentClosureAtDispatch: "abc-web-02-prev",
      receivedAt: now(),
      seq: 1,
    });
    await post("web-02", {
      kind: "ActivationCompleted",
      observedCurrentClosure: "def456-nixos-system-web-02",
      exitCode: 0,
      completedAt: now(),
      seq: 2,
    });
    await post("web-02", {
      kind: "ProbeResult",
      probeName: "nginx",
      mode: "enforce",
      status: "pass",
      observedAt: now(),
      seq: 3,
    });
    await post("web-02", {
      kind: "Converged",
      convergedAt: now(),
      currentClosure: "def456-nixos-system-web-02",
      seq: 4,
    });
    await post("db-01", {
      kind: "DispatchAck",
      currentClosureAtDispatch: "abc-db-01-prev",
      receivedAt: now(),
      seq: 1,
    });
    await post("db-01", {
      kind: "ActivationFailed",
      exitCode: 4,
      stderrTail: "error: unit postgresql.service failed\nmore",
      failedAt: now(),
      seq: 2,
    });

    const changes = () => jsonLines(json.stdout()).filter((m) => m["change"] !== undefined);
    await until("six changes", () => changes().length >= 6);
    await until("six change lines", () => (text.stdout().match(/ -> /g) ?? []).length >= 6);
    json.child.kill("SIGINT");
    text.child.kill("SIGINT");
    const [jsonDone, textDone] = await Promise.all([json.done, text.done]);
    assert.equal(jsonDone.code, 0, jsonDone.stderr);
    assert.equal(textDone.code, 0, textDone.stderr);

    const messages = jsonLines(jsonDone.stdout);
    const snapshot = messages.slice(0, 4);
    assert.deepEqual(
      snapshot.map((m) => [m["snapshot"]?.["hostname"], m["snapshot"]?.["state"]]),
      [...HOSTS].sort().map((h) => [h, "HOST_STATE_PENDING"]),
    );
    assert.deepEqual(messages[4], { snapshotComplete: { hostCount: 4 } });
    const moves = messages
      .slice(5)
      .map((m) => m["change"] as Record<string, unknown>)
      .map((c) => `${c["hostname"]} ${c["from"]} -> ${c["to"]}`.replaceAll("HOST_STATE_", ""));
    assert.deepEqual(moves, [
      "web-01 PENDING -> ACTIVATING",
      "web-02 PENDING -> ACTIVATING",
      "web-02 ACTIVATING -> SOAKING",
      "web-02 SOAKING -> CONVERGED",
      "db-01 PENDING -> ACTIVATING",
      "db-01 ACTIVATING -> FAILED",
    ]);

    assert.match(textDone.stdout, /^HOST\s+STATE\s+SINCE\s+LAST SEQ$/m);
    assert.match(textDone.stdout, /^4 hosts: 4 Pending$/m);
    const lines = textDone.stdout.split("\n").filter((l) => l.includes(" -> "));
    assert.equal(lines.length, 6);
    assert.match(lines[3] ?? "", /^\S+Z web-02 Soaking -> Converged seq 4$/);
    assert.match(lines[5] ?? "", /^\S+Z db-01 Activating -> Failed seq 2$/);
  });

  test("rollout status prints the table, the summary line and the derived status", async () => {
    const r = await cli(["rollout", "status", ROLLOUT, ...conn]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.match(lines[0] ?? "", /^HOST\s+STATE\s+SINCE\s+LAST SEQ$/);
    const rows = lines.slice(1, 5).map((l) => l.split(/\s+/));
    assert.deepEqual(
      rows.map(([host, state, , seq]) => `${host} ${state} ${seq}`),
      ["db-01 Failed 2", "h1 Pending 0", "web-01 Activating 1", "web-02 Converged 4"],
    );
    for (const [, , since] of rows) assert.match(since ?? "", /^\d{4}-\d\d-\d\dT.*Z$/);
    assert.equal(lines[5], "");
    assert.equal(lines.at(-2), "4 hosts: 1 Pending, 1 Activating, 1 Converged, 1 Failed");
    assert.equal(lines.at(-1), "status: halted-on-failure");
  });

  test("rollout status --json prints the records", async () => {
    const r = await cli(["rollout", "status", ROLLOUT, "--json", ...conn]);
    assert.equal(r.code, 0, r.stderr);
    const records = JSON.parse(r.stdout) as Record<string, unknown>[];
    assert.ok(Array.isArray(records));
    const by = Object.fromEntries(records.map((rec) => [rec["hostname"], rec]));
    assert.deepEqual(Object.keys(by).sort(), [...HOSTS].sort());
    assert.equal(by["web-01"]?.["state"], "HOST_STATE_ACTIVATING");
    assert.equal(by["web-01"]?.["lastEventSeq"], "1");
    assert.equal(by["web-02"]?.["state"], "HOST_STATE_CONVERGED");
    assert.equal(by["web-02"]?.["lastEventSeq"], "4");
    assert.equal(by["web-02"]?.["currentClosure"], "def456-nixos-system-web-02");
    assert.equal(by["db-01"]?.["state"], "HOST_STATE_FAILED");
    assert.equal(by["db-01"]?.["policyApplied"], "HEALTH_FAILURE_POLICY_ROLLBACK_AND_HALT");
    assert.equal(by["h1"]?.["state"], "HOST_STATE_PENDING");
    assert.equal(by["h1"]?.["lastEventSeq"], "0");
  });

  test("rollout history prints one line per event in commit order", async () => {
    const r = await cli(["rollout", "history", ROLLOUT, ...conn]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.match(lines[0] ?? "", /^ID\s+RECORDED\s+HOST\s+SEQ\s+KIND\s+SUMMARY$/);
    const rows = lines.slice(1).map((l) => l.split(/\s+/));
    assert.deepEqual(
      rows.map(([, , host, seq, kind]) => `${host} ${seq} ${kind}`),
      [
        "web-01 1 DispatchAck",
        "web-02 1 DispatchAck",
        "web-02 2 ActivationCompleted",
        "web-02 3 ProbeResult",
        "web-02 4 Converged",
        "db-01 1 DispatchAck",
        "db-01 2 ActivationFailed",
      ],
    );
    const ids = rows.map(([id]) => Number(id));
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
    );
    assert.match(lines[7] ?? "", /exit 4: error: unit postgresql\.service failed$/);
    assert.match(lines[4] ?? "", /nginx pass \(enforce\)$/);
  });

  test("rollout history --json, --host, --after and --limit", async () => {
    const all = await cli(["rollout", "history", ROLLOUT, "--json", ...conn]);
    assert.equal(all.code, 0, all.stderr);
    const events = jsonLines(all.stdout) as unknown as {
      id: string;
      hostname: string;
      kind: string;
      seq: string;
      event: Record<string, unknown>;
    }[];
    assert.equal(events.length, 7);
    const ids = events.map((e) => Number(e.id));
    assert.ok(
      ids.every((id, i) => i === 0 || id > (ids[i - 1] as number)),
      ids.join(","),
    );
    assert.deepEqual(events[4]?.event, {
      kind: "Converged",
      convergedAt: events[4]?.event["convergedAt"],
      currentClosure: "def456-nixos-system-web-02",
      seq: 4,
    });

    const db = await cli(["rollout", "history", ROLLOUT, "--host", "db-01", "--json", ...conn]);
    assert.deepEqual(
      jsonLines(db.stdout).map((e) => e["kind"]),
      ["DispatchAck", "ActivationFailed"],
    );

    const page = await cli([
      "rollout",
      "history",
      ROLLOUT,
      "--after",
      String(ids[1]),
      "--limit",
      "2",
      "--json",
      ...conn,
    ]);
    assert.equal(page.code, 0, page.stderr);
    assert.deepEqual(
      jsonLines(page.stdout).map((e) => Number(e["id"])),
      ids.slice(2, 4),
    );
  });

  test("an agent certificate is refused with a permission message (exit 1)", async () => {
    const agent = pki.pki.agents["web-01"];
    assert.ok(agent);
    const r = await cli([
      "rollout",
      "status",
      ROLLOUT,
      ...conn,
      "--cert",
      agent.certPath,
      "--key",
      agent.keyPath,
    ]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /agent-web-01\.pem is not an operator certificate/);
    assert.match(r.stderr, /requires the operator role/);
  });

  test("an unknown rollout, an unreachable server and a missing key exit 1", async () => {
    const [unknown, unreachable, missing] = await Promise.all([
      cli(["rollout", "status", "stable@ffff", ...conn]),
      cli(["rollout", "status", ROLLOUT, ...conn, "--server", "https://localhost:1"]),
      cli(["rollout", "history", ROLLOUT, ...conn, "--key", join(pki.dir, "nope.pem")]),
    ]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no rollout "stable@ffff"/);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot reach https:\/\/localhost:1: /);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /--key .*nope\.pem: no such file/);
  });

  test("rollout watch reconnects after a shutdown, from a fresh snapshot, and gives up after --reconnect-attempts", async () => {
    const watch = startCli(["rollout", "watch", ROLLOUT, "--json", ...conn]);
    await until("the snapshot", () => watch.stdout().includes("snapshotComplete"));
    const firstRun = watch.stdout();
    server.child.kill("SIGTERM");
    assert.equal((await server.exited).code, 0);
    await until("the reconnect note", () => /reconnecting in/.test(watch.stderr()));
    assert.match(
      watch.stderr(),
      /the watch of stable@0c1a ended \(Unavailable: the server is shutting down; reconnect to watch on\); reconnecting in \d+\.\ds \(attempt 1 of 10\)/,
    );
    // The same store on the same address: a restarted server (or another replica).
    const flags = spawnFlags(pki).map((f) =>
      f === "127.0.0.1:0" ? `127.0.0.1:${server.port}` : f,
    );
    server = await spawnServer({ flags });
    await until(
      "the fresh snapshot",
      () => /again from a fresh snapshot/.test(watch.stderr()),
      60_000,
    );
    const resumed = watch.stdout().slice(firstRun.length);
    assert.equal(
      jsonLines(resumed).filter((m) => m["snapshot"] !== undefined).length,
      HOSTS.length,
    );
    assert.equal(jsonLines(resumed).filter((m) => m["snapshotComplete"] !== undefined).length, 1);

    // Bounded: with one reconnect allowed, a server that stays away ends the watch with exit 1.
    const once = startCli(["rollout", "watch", ROLLOUT, "--reconnect-attempts", "1", ...conn]);
    await until("the second watch", () => /Ctrl-C to stop/.test(once.stderr()));
    watch.child.kill("SIGINT");
    assert.equal((await watch.done).code, 0);
    server.child.kill("SIGTERM");
    const [gaveUp, exited] = await Promise.all([once.done, server.exited]);
    assert.equal(exited.code, 0);
    assert.equal(gaveUp.code, 1, gaveUp.stderr);
    assert.match(gaveUp.stderr, /reconnecting in \d+\.\ds \(attempt 1 of 1\)/);
    assert.match(
      gaveUp.stderr,
      /the watch of stable@0c1a ended and 1 reconnect failed: cannot reach https:\/\/localhost:\d+/,
    );
  });
});
