// `nixfleet-cp hosts list` as a child process against the real server over mTLS: reachable
// and unreachable hosts in text and --json, and `rollout history` marking synthesized events.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import {
  cleanup,
  makeTestPki,
  openTestRollout,
  postBinding,
  request,
  startTestServer,
  type TestPki,
  type TestServer,
} from "./harness.js";

const BIN = new URL("../../bin/nixfleet-cp", import.meta.url).pathname;

function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  // The caller's NIXFLEET_CP_* settings must not leak into what the test expects.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("NIXFLEET_CP_")),
  );
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe("hosts list", () => {
  let pki: TestPki;
  let server: TestServer;
  let flags: string[];
  before(async () => {
    pki = await makeTestPki();
    server = await startTestServer(pki, ["--heartbeat-interval", "250ms"]);
    flags = [
      "--server",
      server.url,
      "--ca",
      pki.pki.caPath,
      "--cert",
      pki.pki.operators["admin"]!.certPath,
      "--key",
      pki.pki.operators["admin"]!.keyPath,
    ];
  });
  after(async () => {
    await server.service.shutdown();
    cleanup(pki);
  });
  const beat = (h: string, closure: string) =>
    request(server.url, pki.ca, pki.agent(h), {
      path: "/v1/agent/heartbeat",
      body: `{"hostname":"${h}","current_closure":"${closure}","at":"2026-05-16T01:40:00Z"}`,
    });

  test("lists reachable and unreachable hosts, filtered, in text and JSON", async () => {
    assert.equal((await beat("web-02", "closure-b")).status, 200);
    await new Promise((r) => setTimeout(r, 1100));
    // web-01 keeps heartbeating, as a live agent does, while the CLI starts and asks.
    assert.equal((await beat("web-01", "closure-a")).status, 200);
    const alive = setInterval(() => void beat("web-01", "closure-a").catch(() => {}), 100);
    try {
      await listsBoth();
    } finally {
      clearInterval(alive);
    }
  });

  async function listsBoth(): Promise<void> {
    const all = await cli(["hosts", "list", ...flags]);
    assert.equal(all.code, 0, all.stderr);
    const lines = all.stdout.trimEnd().split("\n");
    assert.match(lines[0] ?? "", /^HOST\s+REACHABLE\s+LAST HEARTBEAT\s+RECEIVED\s+CLOSURE$/);
    assert.match(lines[1] ?? "", /^web-01\s+yes\s+2026-05-16T01:40:00Z\s+\S+\s+closure-a$/);
    assert.match(lines[2] ?? "", /^web-02\s+no\s+2026-05-16T01:40:00Z\s+\S+\s+closure-b$/);
    assert.match(lines.at(-1) ?? "", /^2 hosts, 1 unreachable \(heartbeat interval 0.25s/);
    const unreachable = await cli(["hosts", "list", "--unreachable", "--json", ...flags]);
    assert.equal(unreachable.code, 0, unreachable.stderr);
    const json = JSON.parse(unreachable.stdout) as { hostname: string; reachable: boolean }[];
    assert.deepEqual(
      json.map((h) => [h.hostname, h.reachable]),
      [["web-02", false]],
    );
    const reachable = await cli(["hosts", "list", "--reachable", "--json", ...flags]);
    assert.deepEqual(
      (JSON.parse(reachable.stdout) as { hostname: string }[]).map((h) => h.hostname),
      ["web-01"],
    );
    const both = await cli(["hosts", "list", "--reachable", "--unreachable", ...flags]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /exclude each other/);
  }

  test("rollout history marks events the control plane synthesized", async () => {
    await openTestRollout(server, "heal@01", ["db-01"]);
    const ack = {
      hostname: "db-01",
      rolloutId: "heal@01",
      event: {
        kind: "DispatchAck",
        currentClosureAtDispatch: "prev",
        receivedAt: "2026-05-16T01:27:01Z",
        seq: 1,
      },
    };
    assert.equal((await postBinding(server.url, pki.ca, pki.agent("db-01"), ack)).status, 204);
    assert.equal((await beat("db-01", "def456-nixos-system-db-01")).status, 200);
    const history = await cli(["rollout", "history", "heal@01", ...flags]);
    assert.equal(history.code, 0, history.stderr);
    const lines = history.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 3);
    assert.doesNotMatch(lines[1] ?? "", /\[synthesized\]/);
    assert.match(lines[2] ?? "", /db-01\s+2\s+ActivationCompleted\s+\[synthesized\] /);
  });
});
