// Issue 11 fix 2 and its acceptance: with PostgreSQL down every answer is unavailable / 503
// with a retry hint and no address, /readyz is not ready; once it is back, service resumes
// without a restart and nothing acknowledged is missing. Uses a PostgreSQL of its own.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { listEvents } from "../../src/storage/list-events.js";
import { type OwnPostgres, startOwnPostgres } from "../hostile/own-postgres.js";
import {
  codeOf,
  messageOf,
  PROTOCOL_HEADERS,
  type RawClient,
  rawClient,
} from "../hostile/raw-client.js";
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

const ROLLOUT = "stable@0a";
const HOSTS = ["h1", "h2", "h3"];

function ack(host: string, seq: number) {
  return {
    hostname: host,
    rolloutId: ROLLOUT,
    event:
      seq === 1
        ? {
            kind: "DispatchAck",
            currentClosureAtDispatch: "prev",
            receivedAt: "2026-05-16T01:27:01Z",
            seq,
          }
        : {
            kind: "ActivationStarted",
            startedAt: "2026-05-16T01:27:03Z",
            switchMethod: `try-${seq}`,
            seq,
          },
  };
}

async function until(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe("PostgreSQL outage", () => {
  let pki: TestPki;
  let pg: OwnPostgres;
  let server: TestServer;
  let operator: RawClient;
  before(async () => {
    pki = await makeTestPki();
    pg = await startOwnPostgres();
    server = await startTestServer(pki, ["--db", pg.url, "--store-probe-interval", "100"]);
    await openTestRollout(server, ROLLOUT, HOSTS);
    operator = rawClient(server.url, pki.ca, pki.operator);
  });
  after(async () => {
    operator.close();
    await server.service.shutdown();
    await pg.destroy();
    cleanup(pki);
  });

  const ready = async () =>
    (await request(server.url, pki.ca, pki.operator, { path: "/readyz", method: "GET" })).status;

  test("during: unavailable + retry hint, no address, not ready; after: resumes, nothing lost", async () => {
    const acknowledged: [string, number][] = [];
    let seq = 0;
    for (const host of HOSTS) {
      const res = await postBinding(server.url, pki.ca, pki.agent(host), ack(host, 1));
      assert.equal(res.status, 204);
      acknowledged.push([host, 1]);
    }
    seq = 2;
    assert.equal(await ready(), 200);

    // A pooled connection checked out while the server stops (as a commit in flight holds
    // one) gets an 'error' event; unheard, it used to crash the process.
    const database = server.service.database;
    assert.equal(database.kind, "postgres");
    const held = database.kind === "postgres" ? await database.pool.connect() : undefined;
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on("uncaughtException", onUncaught);
    await pg.stop();
    await new Promise((r) => setTimeout(r, 300));
    process.off("uncaughtException", onUncaught);
    held?.release(true);
    assert.deepEqual(uncaught, [], "a pooled connection's error went unheard");
    const secret = [String(pg.port), "127.0.0.1", "ECONNREFUSED", "postgres"];
    const clean = (text: string) => {
      for (const s of secret) assert.ok(!text.includes(s), `answer leaks ${s}: ${text}`);
    };
    // The first request meets the outage itself (before any probe noticed it).
    for (let round = 0; round < 2; round++) {
      const binding = await postBinding(server.url, pki.ca, pki.agent("h1"), ack("h1", seq));
      assert.equal(binding.status, 503, binding.body);
      assert.ok(Number(binding.headers["retry-after"]) >= 1);
      clean(binding.body);
      const agent = rawClient(server.url, pki.ca, pki.agent("h2"));
      try {
        for (const protocol of ["connect-json", "grpc"] as const) {
          const body = JSON.stringify({
            hostname: "h2",
            rolloutId: ROLLOUT,
            event: {
              seq: String(seq),
              activationStarted: { startedAt: "2026-05-16T01:27:03Z", switchMethod: "x" },
            },
          });
          const answer = await agent.send({
            path: "/nixfleet.agent.v1.AgentEventsService/PostEvent",
            headers:
              protocol === "grpc"
                ? { ...PROTOCOL_HEADERS.grpc, "content-type": "application/grpc+json" }
                : PROTOCOL_HEADERS[protocol],
            body:
              protocol === "grpc"
                ? Buffer.concat([
                    Buffer.from([0, 0, 0, 0, Buffer.byteLength(body)]),
                    Buffer.from(body),
                  ])
                : body,
          });
          assert.equal(codeOf(answer), "unavailable", `${protocol}: ${messageOf(answer)}`);
          const hint = answer.headers["retry-after"] ?? answer.trailers["retry-after"];
          assert.ok(hint !== undefined, `${protocol}: no retry-after`);
          clean(messageOf(answer));
        }
      } finally {
        agent.close();
      }
      const list = await operator.send({
        path: "/nixfleet.ops.v1.RolloutService/ListEvents",
        headers: PROTOCOL_HEADERS["connect-json"],
        body: JSON.stringify({ rolloutId: ROLLOUT }),
      });
      assert.equal(codeOf(list), "unavailable", messageOf(list));
      clean(list.body.toString("utf8"));
    }
    await until("/readyz not ready", async () => (await ready()) === 503);

    await pg.start();
    await until("/readyz ready again", async () => (await ready()) === 200);
    for (const host of HOSTS) {
      const res = await postBinding(server.url, pki.ca, pki.agent(host), ack(host, seq));
      assert.equal(res.status, 204, res.body);
      acknowledged.push([host, seq]);
    }
    const log = await listEvents(server.service.database.db, { rolloutId: ROLLOUT, limit: 100 });
    const stored = new Set(log.map((e) => `${e.hostname}#${e.seq}`));
    for (const [host, s] of acknowledged)
      assert.ok(stored.has(`${host}#${s}`), `${host}#${s} lost`);
  });
});
