// @grpc/grpc-js under overload and during shutdown: a shed call is RESOURCE_EXHAUSTED with a
// RetryInfo the client can read (never INTERNAL or UNKNOWN), and a call on an open connection
// while the server drains is UNAVAILABLE with the same hint, and so is a watch the shutdown ends.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { status } from "@grpc/grpc-js";
import {
  cleanup,
  makeTestPki,
  openTestRollout,
  startTestServer,
  type TestPki,
  type TestServer,
} from "../e2e/harness.js";
import {
  agentClient,
  type CallError,
  eventRequest,
  failure,
  type Message,
  retryDelaySeconds,
  rolloutClient,
} from "./grpc-js-client.js";

async function withServer(
  flags: readonly string[],
  body: (server: TestServer, pki: TestPki) => Promise<void>,
): Promise<void> {
  const pki = await makeTestPki();
  const server = await startTestServer(pki, flags);
  try {
    await body(server, pki);
  } finally {
    await server.service.shutdown();
    cleanup(pki);
  }
}

function assertSlowDown(error: CallError, code: status): void {
  assert.equal(error.code, code, `${status[error.code]}: ${error.details}`);
  assert.deepEqual(error.metadata.get("retry-after"), ["1"]);
  assert.equal(retryDelaySeconds(error), 1, "RetryInfo.retry_delay in grpc-status-details-bin");
  assert.doesNotMatch(error.details, /%[0-9A-F]{2}/);
}

describe("grpc-js under overload and shutdown", () => {
  test("a tiny channel: every answer is OK or RESOURCE_EXHAUSTED with a readable RetryInfo", async () => {
    const flags = [
      "--channel-capacity",
      "2",
      "--batch-size",
      "1",
      "--debug-reducer-delay-ms",
      "100",
    ];
    await withServer(flags, async (server, pki) => {
      await openTestRollout(server, "load@01", ["h1", "h2"]);
      const clients = ["h1", "h2"].map((h) => agentClient(server.service.port, pki, pki.agent(h)));
      try {
        for (const [i, c] of clients.entries()) {
          const host = `h${i + 1}`;
          await c.unary("postEvent")(eventRequest(host, "load@01", 1));
        }
        // Seqs far above anything applied, so none is a duplicate at the cheap check.
        const calls = clients.flatMap((c, i) =>
          Array.from({ length: 20 }, (_, j) =>
            c.unary("postEvent")(eventRequest(`h${i + 1}`, "load@01", 1000 + j)),
          ),
        );
        const results = await Promise.allSettled(calls);
        const shed = results.flatMap((r) =>
          r.status === "rejected" ? [r.reason as CallError] : [],
        );
        const ok = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
        assert.ok(shed.length > 0, "nothing was shed");
        assert.ok(ok.length > 0, "nothing got through");
        for (const error of shed) assertSlowDown(error, status.RESOURCE_EXHAUSTED);
        assert.equal(
          shed[0]?.details,
          "ingest queue is full; retry with the same seq after the hinted delay",
        );
      } finally {
        for (const c of clients) c.close();
      }
    });
  });

  test("while draining: UNAVAILABLE with the hint on an open connection; the accepted event is answered", async () => {
    await withServer(["--debug-reducer-delay-ms", "2500"], async (server, pki) => {
      await openTestRollout(server, "drain@03", ["h1", "h2"]);
      const h1 = agentClient(server.service.port, pki, pki.agent("h1"));
      const h2 = agentClient(server.service.port, pki, pki.agent("h2"));
      const operator = rolloutClient(server.service.port, pki, pki.operator);
      try {
        // Open the connections first: new ones are refused once draining.
        for (const [host, c] of [
          ["h1", h1],
          ["h2", h2],
        ] as const) {
          const warm = await failure(c.unary("postEvent")(eventRequest(host, "nope@01", 1)));
          assert.equal(warm.code, status.NOT_FOUND);
        }
        const watch = operator.stream("watchRollout", { rolloutId: "drain@03" });
        const watchEnd = new Promise<CallError>((resolve) => {
          watch.on("data", () => {});
          watch.on("status", () => {});
          watch.on("error", (e: CallError) => resolve(e));
          watch.on("end", () => resolve({ code: status.OK } as CallError));
        });
        const accepted = h1.unary("postEvent")(eventRequest("h1", "drain@03", 1));
        // Let it reach the (slowed) reducer before the drain starts.
        await new Promise((r) => setTimeout(r, 300));
        const stopping = server.service.shutdown();
        const error = await failure(h2.unary("postEvent")(eventRequest("h2", "drain@03", 1)));
        assertSlowDown(error, status.UNAVAILABLE);
        assert.equal(((await accepted) as Message)["outcome"], "OUTCOME_APPLIED");
        await stopping;
        // Ended by the shutdown, not finished: UNAVAILABLE with the hint, so the client
        // reconnects (to another replica), never OK, INTERNAL or UNKNOWN.
        assertSlowDown(await watchEnd, status.UNAVAILABLE);
      } finally {
        for (const c of [h1, h2, operator]) c.close();
      }
    });
  });
});
