// Runs the hostile corpus against the real server over mTLS: each request gets its expected
// code as a proper 4xx (or gRPC status) naming the problem; afterwards the server is alive and
// the database unchanged (issue 11 (d)).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { getRecord } from "../../src/storage/get-record.js";
import { listEvents } from "../../src/storage/list-events.js";
import {
  cleanup,
  makeTestPki,
  openTestRollout,
  postBinding,
  request,
  startTestServer,
  type TestPki,
  type TestServer,
} from "../e2e/harness.js";
import {
  HOST,
  type HostileCase,
  hostileCorpus,
  MAX_BYTES,
  ROLLOUT,
  type Surface,
} from "./corpus.js";
import { codeOf, messageOf, type RawAnswer, type RawClient, rawClient } from "./raw-client.js";

const CORPUS = hostileCorpus();
const SURFACES: Surface[] = ["binding", "connect-json", "connect-proto", "grpc", "grpc-web"];

/** What is wrong with an answer to a hostile case, or undefined when it is right. */
function judge(c: HostileCase, answer: RawAnswer): string | undefined {
  const code = codeOf(answer);
  const message = messageOf(answer);
  if (code !== c.code)
    return `expected ${c.code}, got ${code} (${answer.status}): ${message.slice(0, 200)}`;
  const grpc = c.surface === "grpc" || c.surface === "grpc-web";
  if (grpc && answer.status !== 200) return `gRPC answered HTTP ${answer.status}`;
  // The binding may answer a refusal 2xx with the verdict in the body (SPEC §10).
  const refusedOk =
    c.surface === "binding" &&
    answer.status >= 200 &&
    answer.status < 300 &&
    /refused/.test(answer.body.toString("utf8"));
  if (!grpc && !refusedOk && (answer.status < 400 || answer.status >= 500))
    return `HTTP ${answer.status} is not a 4xx`;
  if (message.trim() === "") return "the answer names no problem";
  if (c.names !== undefined && !message.toLowerCase().includes(c.names.toLowerCase())) {
    return `message does not name "${c.names}": ${message.slice(0, 200)}`;
  }
  return undefined;
}

describe("hostile corpus", () => {
  let pki: TestPki;
  let server: TestServer;
  let agent: RawClient;
  before(async () => {
    pki = await makeTestPki();
    server = await startTestServer(pki, ["--max-message-bytes", String(MAX_BYTES)]);
    await openTestRollout(server, ROLLOUT, [HOST]);
    agent = rawClient(server.url, pki.ca, pki.agent(HOST));
  });
  after(async () => {
    agent.close();
    await server.service.shutdown();
    cleanup(pki);
  });

  test(`has at least 300 cases over every surface (${CORPUS.length})`, () => {
    assert.ok(CORPUS.length >= 300);
    for (const s of SURFACES)
      assert.ok(
        CORPUS.some((c) => c.surface === s),
        s,
      );
  });

  for (const surface of SURFACES) {
    const cases = CORPUS.filter((c) => c.surface === surface);
    test(`${surface}: ${cases.length} hostile requests each get their code, naming the problem`, async () => {
      const failures: string[] = [];
      for (const c of cases) {
        let answer: RawAnswer;
        try {
          answer = await agent.send(c.request);
        } catch (error) {
          failures.push(`${c.name}: request failed: ${(error as Error).message}`);
          continue;
        }
        const wrong = judge(c, answer);
        if (wrong !== undefined) failures.push(`${c.name}: ${wrong}`);
      }
      assert.deepEqual(failures, []);
    });
  }

  test("afterwards the database is unchanged and the server alive and serving", async () => {
    assert.equal(
      (await listEvents(server.service.database.db, { rolloutId: ROLLOUT, limit: 10 })).length,
      0,
    );
    const record = await getRecord(server.service.database.db, ROLLOUT, HOST);
    assert.equal(record?.state, "Pending");
    assert.equal(record?.lastEventSeq, 0);
    const health = await request(server.url, pki.ca, pki.operator, {
      path: "/healthz",
      method: "GET",
    });
    assert.equal(health.status, 200);
    const ok = await postBinding(server.url, pki.ca, pki.agent(HOST), {
      hostname: HOST,
      rolloutId: ROLLOUT,
      event: {
        kind: "DispatchAck",
        currentClosureAtDispatch: "prev",
        receivedAt: "2026-05-16T01:27:01Z",
        seq: 1,
      },
    });
    assert.equal(ok.status, 204, ok.body);
  });
});
