// Structured logs: one JSON line per refused or failed request, naming why and for whom,
// and none for a success at info level.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { ConnectError } from "@connectrpc/connect";
import pino from "pino";
import { HealthFailurePolicy } from "../../gen/nixfleet/agent/v1/events_pb.js";
import { RolloutService } from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { startService } from "../../src/server/start-service.js";
import { streamBody } from "./agent-stream.js";
import {
  cleanup,
  client,
  makeTestPki,
  openTestRollout,
  postBinding,
  request,
  testConfig,
} from "./harness.js";

/** A pino logger whose JSON lines land in `lines`. */
function capture(lines: Record<string, unknown>[]) {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n"))
        if (line !== "") lines.push(JSON.parse(line));
      done();
    },
  });
  return pino({ level: "info" }, sink);
}

test("refusals are logged once each with their reason; successes are not", async () => {
  const pki = await makeTestPki();
  const lines: Record<string, unknown>[] = [];
  const service = await startService(testConfig(pki), capture(lines));
  const server = { service, url: `https://localhost:${service.port}`, config: testConfig(pki) };
  try {
    await openTestRollout(server, "log@01", ["h1", "h2"]);
    const start = lines.length;
    const h1 = pki.agent("h1");
    assert.equal(
      (await postBinding(server.url, pki.ca, h1, streamBody("h1", "log@01", 1))).status,
      204,
    );
    assert.equal(
      (await postBinding(server.url, pki.ca, h1, streamBody("h1", "log@01", 1))).status,
      204,
    );
    assert.equal(
      (await postBinding(server.url, pki.ca, h1, streamBody("h2", "log@01", 1))).status,
      403,
    );
    assert.equal(
      (
        await postBinding(
          server.url,
          pki.ca,
          h1,
          JSON.stringify({
            hostname: "h1",
            rolloutId: "log@01",
            event: {
              kind: "Converged",
              seq: 2,
              convergedAt: "2026-05-16T01:27:01Z",
              currentClosure: "x",
            },
          }),
        )
      ).status,
      202,
    );
    assert.equal(
      (
        await request(server.url, pki.ca, h1, {
          path: "/v1/agent/events",
          method: "PUT",
          body: "{}",
        })
      ).status,
      405,
    );
    await client(RolloutService, server.url, pki.ca, h1)
      .listEvents({ rolloutId: "log@01" })
      .catch((e: unknown) => ConnectError.from(e));
    await client(RolloutService, server.url, pki.ca, pki.operator)
      .getHostRollout({ rolloutId: "log@01", hostname: "ghost" })
      .catch((e: unknown) => ConnectError.from(e));

    const logged = lines.slice(start).filter((l) => (l["level"] as number) >= 30);
    const summary = logged.map((l) => [l["msg"], l["code"]]);
    assert.deepEqual(summary, [
      ["event rejected", "permission_denied"],
      ["event rejected", "failed_precondition"],
      ["request refused", "method_not_allowed"],
      ["request refused", "permission_denied"],
      ["request failed", "not_found"],
    ]);
    const illegal = logged[1] as Record<string, unknown>;
    assert.equal(illegal["hostname"], "h1");
    assert.equal(illegal["rolloutId"], "log@01");
    assert.equal(illegal["seq"], 2);
    assert.match(String(illegal["reason"]), /Converged is illegal/);
    assert.equal(logged[3]?.["rpc"], "nixfleet.ops.v1.RolloutService/ListEvents");
  } finally {
    await service.shutdown();
    cleanup(pki);
  }
});

test("every operator write leaves one audit line: who, which rollout, how many hosts, result", async () => {
  const pki = await makeTestPki();
  const lines: Record<string, unknown>[] = [];
  const service = await startService(testConfig(pki), capture(lines));
  const url = `https://localhost:${service.port}`;
  try {
    const open = (hosts: string[], soak: bigint) =>
      client(RolloutService, url, pki.ca, pki.operator)
        .openRollout({
          rolloutId: "audit@01",
          onHealthFailure: HealthFailurePolicy.HALT,
          soakDuration: { seconds: soak, nanos: 0 },
          hosts: hosts.map((hostname) => ({ hostname, targetClosure: `c-${hostname}` })),
        })
        .catch((e: unknown) => ConnectError.from(e));
    await open(["h1", "h2"], 60n);
    await open(["h1", "h2"], 60n);
    await open(["h1"], 120n);
    // Reads and agents' writes are not operator writes.
    await client(RolloutService, url, pki.ca, pki.operator).listEvents({ rolloutId: "audit@01" });
    await client(RolloutService, url, pki.ca, pki.agent("h1"))
      .openRollout({ rolloutId: "audit@02" })
      .catch(() => undefined);
    const audit = lines
      .filter((l) => l["audit"] === true)
      .map((l) => [l["msg"], l["operator"], l["rpc"], l["rolloutId"], l["hosts"], l["result"]]);
    const who = "operator-admin.fleet.lab.internal";
    const rpc = "nixfleet.ops.v1.RolloutService/OpenRollout";
    assert.deepEqual(audit, [
      ["operator write", who, rpc, "audit@01", 2, "created"],
      ["operator write", who, rpc, "audit@01", 2, "unchanged"],
      ["operator write", who, rpc, "audit@01", 1, "already_exists"],
    ]);
  } finally {
    await service.shutdown();
    cleanup(pki);
  }
});
