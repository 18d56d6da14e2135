// PostEvents over Connect JSON, Connect binary, gRPC, gRPC-Web and the JSON binding against the
// real server over mTLS: one verdict per event in order, each what PostEvent would answer for
// that event alone; whole-call refusals leave the store unchanged.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import BetterSqlite3 from "better-sqlite3";
import {
  AgentEventsService,
  type BatchedEventSchema,
  HostState,
  Outcome,
  PostEventRequestSchema,
  type PostEventsResponse,
} from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { codeName } from "../../src/server/service-error.js";
import { listEvents } from "../../src/storage/list-events.js";
import { batched, batchedJson } from "./batch-events.js";
import {
  cleanup,
  client,
  makeTestPki,
  openRolloutInStore,
  openTestRollout,
  PROTOCOLS,
  request,
  spawnFlags,
  spawnServer,
  startTestServer,
  type TestPki,
  type TestServer,
} from "./harness.js";

type Batched = MessageInitShape<typeof BatchedEventSchema>;

async function codeOf(promise: Promise<unknown>): Promise<[Code | "ok", string]> {
  try {
    await promise;
    return ["ok", ""];
  } catch (error) {
    const e = ConnectError.from(error);
    return [e.code, e.rawMessage];
  }
}

/** The error message of verdict `index` ("" when it is not an error). */
function messageOf(res: PostEventsResponse, index: number): string {
  const v = res.verdicts[index]?.verdict;
  return v?.case === "error" ? v.value.message : "";
}

/** What the verdicts say, compactly: outcome name or error code, per event. */
function summary(res: PostEventsResponse): string[] {
  return res.verdicts.map((v) =>
    v.verdict.case === "accepted"
      ? Outcome[v.verdict.value.outcome]
      : v.verdict.case === "error"
        ? v.verdict.value.code
        : "none",
  );
}

describe("PostEvents", () => {
  let pki: TestPki;
  let server: TestServer;
  const seqsOf = async (rolloutId: string) =>
    (await listEvents(server.service.database.db, { rolloutId, limit: 1000 })).map((e) => e.seq);
  before(async () => {
    pki = await makeTestPki();
    server = await startTestServer(pki);
  });
  after(async () => {
    await server.service.shutdown();
    cleanup(pki);
  });

  for (const [i, protocol] of PROTOCOLS.entries()) {
    test(`${protocol}: one verdict per event, in order, as PostEvent would answer each`, async () => {
      const a = `pa${i}@0${i}`;
      const b = `pb${i}@0${i}`;
      await openTestRollout(server, a, ["web-01"]);
      await openTestRollout(server, b, ["web-01"]);
      const badRollout: Batched = { ...batched(a, 2), rolloutId: "not-canonical" };
      const noKind = { rolloutId: a, event: { seq: 4n } } as Batched;
      // DispatchAck again, at seq 2: illegal once the host is Activating.
      const illegal = {
        rolloutId: a,
        event: {
          seq: 2n,
          kind: {
            case: "dispatchAck",
            value: { currentClosureAtDispatch: "prev", receivedAt: {} },
          },
        },
      } as Batched;
      const events: Batched[] = [
        batched(a, 1),
        batched(a, 1),
        badRollout,
        batched("nope@0abc", 1),
        illegal,
        batched(a, 3),
        batched(b, 1),
        noKind,
      ];
      const agent = client(AgentEventsService, server.url, pki.ca, pki.agent("web-01"), protocol);
      const res = await agent.postEvents({ hostname: "web-01", events });
      assert.deepEqual(summary(res), [
        "APPLIED",
        "DUPLICATE",
        "invalid_argument",
        "not_found",
        "failed_precondition",
        "APPLIED",
        "APPLIED",
        "invalid_argument",
      ]);
      const first = res.verdicts[0]?.verdict;
      assert.equal(first?.case, "accepted");
      if (first?.case === "accepted") {
        assert.equal(first.value.state, HostState.ACTIVATING);
        assert.equal(first.value.lastEventSeq, 1n);
      }
      const gap = res.verdicts[5]?.verdict;
      assert.equal(gap?.case === "accepted" && gap.value.seqGap, 1n, "seq 3 skipped seq 2");
      assert.match(messageOf(res, 4), /DispatchAck is illegal for a host in state Activating/);
      // Each error is exactly PostEvent's for the same event alone (a refusal is recorded again
      // as a count only; the invalid ones change nothing).
      for (const index of [2, 3, 7]) {
        const e = events[index] as { rolloutId: string; event: object };
        const [code, message] = await codeOf(
          agent.postEvent(
            create(PostEventRequestSchema, {
              hostname: "web-01",
              rolloutId: e.rolloutId,
              event: e.event,
            } as MessageInitShape<typeof PostEventRequestSchema>),
          ),
        );
        const verdict = res.verdicts[index]?.verdict;
        assert.equal(verdict?.case, "error");
        if (verdict?.case !== "error") continue;
        assert.equal(verdict.value.code, codeName(code as Code));
        assert.equal(verdict.value.message, message, `event ${index}`);
      }
      assert.match(messageOf(res, 2), /^rolloutId: /);
      assert.match(messageOf(res, 7), /^event\.kind: /);
      assert.deepEqual(await seqsOf(a), [1, 3]);
      assert.deepEqual(await seqsOf(b), [1]);
    });
  }

  test("the whole call is refused, nothing applied: another host, an operator, empty, over the cap, over the byte limit", async () => {
    const c = "pc@0c";
    await openTestRollout(server, c, ["web-01", "web-02"]);
    const agent = client(
      AgentEventsService,
      server.url,
      pki.ca,
      pki.agent("web-01"),
      "connect-binary",
    );
    const ops = client(AgentEventsService, server.url, pki.ca, pki.operator, "connect-binary");
    const one = [batched(c, 1)];
    assert.equal(
      (await codeOf(agent.postEvents({ hostname: "web-02", events: one })))[0],
      Code.PermissionDenied,
    );
    assert.equal(
      (await codeOf(ops.postEvents({ hostname: "web-01", events: one })))[0],
      Code.PermissionDenied,
    );
    const [emptyCode, emptyMessage] = await codeOf(
      agent.postEvents({ hostname: "web-01", events: [] }),
    );
    assert.equal(emptyCode, Code.InvalidArgument);
    assert.match(emptyMessage, /^events: /);
    const many = Array.from({ length: 257 }, (_, k) => batched(c, k + 1));
    const [capCode, capMessage] = await codeOf(
      agent.postEvents({ hostname: "web-01", events: many }),
    );
    assert.equal(capCode, Code.InvalidArgument);
    assert.match(capMessage, /at most 256 per call/);
    const huge = Array.from(
      { length: 20 },
      (_, k): Batched => ({
        rolloutId: c,
        event: {
          seq: BigInt(k + 2),
          kind: {
            case: "activationFailed",
            value: {
              exitCode: 1,
              stderrTail: "x".repeat(60_000),
              failedAt: { seconds: 1778894821n },
            },
          },
        },
      }),
    );
    const [sizeCode] = await codeOf(
      agent.postEvents({ hostname: "web-01", events: [batched(c, 1), ...huge] }),
    );
    assert.equal(sizeCode, Code.ResourceExhausted);
    assert.deepEqual(await seqsOf(c), [], "nothing applied");
    // 256 fit, and are all applied.
    const res = await agent.postEvents({ hostname: "web-01", events: many.slice(0, 256) });
    assert.equal(summary(res).filter((s) => s === "APPLIED").length, 256);
  });

  test("POST /v1/agent/events:batch answers 200 with the single route's status per event", async () => {
    const d = "pd@0d";
    await openTestRollout(server, d, ["web-01"]);
    const body = {
      hostname: "web-01",
      events: [
        batchedJson(d, 1),
        batchedJson(d, 1),
        { rollout_id: d, event: (batchedJson(d, 2) as { event: object }).event },
        { rolloutId: d, event: { kind: "ActivationStarted", seq: 3 } },
        batchedJson("nope@0abc", 1),
        { rolloutId: d, event: { ...(batchedJson(d, 1) as { event: object }).event, seq: 4 } },
        "not an object",
      ],
    };
    const post = (b: unknown, host = "web-01") =>
      request(server.url, pki.ca, pki.agent(host), {
        path: "/v1/agent/events:batch",
        body: typeof b === "string" ? b : JSON.stringify(b),
      });
    const res = await post(body);
    assert.equal(res.status, 200, res.body);
    const { verdicts } = JSON.parse(res.body) as { verdicts: Record<string, unknown>[] };
    assert.deepEqual(
      verdicts.map((v) => [v["status"], v["outcome"] ?? v["code"]]),
      [
        [204, "applied"],
        [204, "duplicate"],
        [204, "applied"],
        [400, "invalid_argument"],
        [202, "refused"],
        [202, "refused"],
        [400, "invalid_argument"],
      ],
    );
    assert.equal(verdicts[3]?.["field"], "event.startedAt");
    assert.equal(verdicts[4]?.["code"], "not_found");
    assert.equal(verdicts[5]?.["reason"], "illegal_for_state");
    assert.equal(verdicts[6]?.["field"], "events[6]");
    assert.deepEqual(await seqsOf(d), [1, 2]);
    // The single route's answer for one of them, for comparison.
    const single = await request(server.url, pki.ca, pki.agent("web-01"), {
      path: "/v1/agent/events",
      body: JSON.stringify({ hostname: "web-01", ...(body.events[3] as object) }),
    });
    assert.equal(single.status, 400);
    assert.deepEqual({ status: 400, ...JSON.parse(single.body) }, verdicts[3]);
    // Whole-call refusals.
    assert.equal((await post({ ...body, hostname: "web-02" })).status, 403);
    assert.equal((await post({ ...body, hostname: "web-02" }, "web-02")).status, 200);
    assert.equal((await post("{")).status, 400);
    assert.equal((await post({ hostname: "web-01", events: [] })).status, 400);
    assert.equal((await post({ hostname: "web-01" })).status, 400);
  });

  test("metrics count the RPC and each event's verdict", async () => {
    const text = await server.service.metrics.registry.metrics();
    assert.match(
      text,
      /nixfleet_cp_requests_total\{rpc="nixfleet\.agent\.v1\.AgentEventsService\/PostEvents",protocol="grpc",code="ok"\} 1/,
    );
    assert.match(
      text,
      /nixfleet_cp_http_requests_total\{route="POST \/v1\/agent\/events:batch",status="200"\}/,
    );
    assert.match(
      text,
      /nixfleet_cp_events_total\{kind="ActivationStarted",outcome="applied"\} \d+/,
    );
  });
});

describe("PostEvents under backpressure", () => {
  let pki: TestPki;
  let server: TestServer;
  before(async () => {
    pki = await makeTestPki();
    // The reducer takes one event per slowed batch, so what a call queues stays queued.
    server = await startTestServer(pki, [
      "--channel-capacity",
      "8",
      "--batch-size",
      "1",
      "--debug-reducer-delay-ms",
      "100",
    ]);
    await openTestRollout(server, "bp@01", ["h1", "h2"]);
  });
  after(async () => {
    await server.service.shutdown();
    cleanup(pki);
  });

  test("a call the channel cannot take whole is refused resource_exhausted, nothing of it queued", async () => {
    const h1 = client(AgentEventsService, server.url, pki.ca, pki.agent("h1"), "grpc");
    const h2 = client(AgentEventsService, server.url, pki.ca, pki.agent("h2"), "connect-binary");
    const first = h1.postEvents({
      hostname: "h1",
      events: Array.from({ length: 7 }, (_, k) => batched("bp@01", k + 1)),
    });
    const depth = async () =>
      Number(
        /nixfleet_cp_channel_depth (\d+)/.exec(
          await server.service.metrics.registry.metrics(),
        )?.[1],
      );
    const until = Date.now() + 10_000;
    while ((await depth()) < 5 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    // 5 or more of 8 slots are taken: 4 more events do not fit (though some would).
    const events = Array.from({ length: 4 }, (_, k) => batched("bp@01", k + 1));
    let refusal: ConnectError | undefined;
    try {
      await h2.postEvents({ hostname: "h2", events });
    } catch (error) {
      refusal = ConnectError.from(error);
    }
    assert.equal(refusal?.code, Code.ResourceExhausted);
    assert.equal(refusal?.metadata.get("retry-after"), "1");
    assert.equal(
      summary(await first).join(),
      "APPLIED,APPLIED,APPLIED,APPLIED,APPLIED,APPLIED,APPLIED",
    );
    const logged = await listEvents(server.service.database.db, {
      rolloutId: "bp@01",
      hostname: "h2",
      limit: 10,
    });
    assert.deepEqual(logged, [], "nothing of the refused call was applied");
    // Once the channel has room, the same call goes through whole.
    assert.equal(
      summary(await h2.postEvents({ hostname: "h2", events })).join(),
      "APPLIED,APPLIED,APPLIED,APPLIED",
    );
  });

  test("a call larger than the channel is refused as too large (retrying could never help)", async () => {
    const h1 = client(AgentEventsService, server.url, pki.ca, pki.agent("h1"), "connect-json");
    const [code, message] = await codeOf(
      h1.postEvents({
        hostname: "h1",
        events: Array.from({ length: 9 }, (_, k) => batched("bp@01", k + 100)),
      }),
    );
    assert.equal(code, Code.InvalidArgument);
    assert.match(message, /at most 8 per call/);
  });
});

describe("PostEvents when a commit fails mid-call", () => {
  let pki: TestPki;
  before(async () => {
    pki = await makeTestPki();
  });
  after(() => cleanup(pki));

  test("a rollout's later events are not applied past one whose commit failed; other rollouts go on", async () => {
    const db = join(pki.dir, "midcall.sqlite");
    for (const r of ["ma@0a", "mb@0b", "mc@0c"]) await openRolloutInStore(db, r);
    // Its own process, so that this one can hold the database while the server's commit waits.
    // Two events per transaction, each slowed a little: the call spans three commits.
    const server = await spawnServer({
      flags: spawnFlags(pki, ["--db", db, "--batch-size", "2", "--debug-reducer-delay-ms", "100"]),
    });
    const other = new BetterSqlite3(db);
    try {
      const h1 = client(AgentEventsService, server.url, pki.ca, pki.agent("h1"), "connect-binary");
      // Commits: [ma 1, ma 2] [mb 1, ma 3] [mc 1, ma 4].
      const call = h1.postEvents({
        hostname: "h1",
        events: [
          batched("ma@0a", 1),
          batched("ma@0a", 2),
          batched("mb@0b", 1),
          batched("ma@0a", 3),
          batched("mc@0c", 1),
          batched("ma@0a", 4),
        ],
      });
      const count = other.prepare("select count(*) as n from event_log");
      const until = Date.now() + 20_000;
      while ((count.get() as { n: number }).n < 2 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 2));
      }
      // This writer holds the database through the second commit (busy for 5 s: an outage),
      // and lets go before the third has waited as long.
      other.exec("begin immediate");
      await new Promise((r) => setTimeout(r, 6500));
      other.exec("rollback");
      const res = await call;
      assert.deepEqual(summary(res), [
        "APPLIED",
        "APPLIED",
        "unavailable",
        "unavailable",
        "APPLIED",
        "unavailable",
      ]);
      assert.match(messageOf(res, 5), /^not attempted: an earlier event of this rollout/);
      const seqs = (rolloutId: string) =>
        (
          other
            .prepare("select seq from event_log where rollout_id = ? order by id")
            .all(rolloutId) as { seq: number }[]
        ).map((r) => Number(r.seq));
      assert.deepEqual(seqs("ma@0a"), [1, 2], "ma 4 was not applied past ma 3");
      assert.deepEqual(seqs("mb@0b"), []);
      assert.deepEqual(seqs("mc@0c"), [1]);
    } finally {
      other.close();
      server.child.kill("SIGKILL");
      await server.exited;
    }
  });
});
