// Structured logs: one JSON line per refused or failed request, naming why and for whom,
// and none for a success at info level.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { ConnectError } from "@connectrpc/connect";
import pino from "pino";
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

test("refusals are logged once each with their reason; successes are not", async () => {
  const pki = await makeTestPki();
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n"))
        if (line !== "") lines.push(JSON.parse(line));
      done();
    },
  });
  const service = await startService(testConfig(pki), pino({ level: "info" }, sink));
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
      409,
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
