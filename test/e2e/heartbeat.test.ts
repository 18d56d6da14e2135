// Heartbeats on the real server over mTLS with the original agent's exact JSON (SPEC §8):
// recovery (LIFT #1, LIFT #5, Failed → Reverted), bootstrap, replay-from, the error statuses,
// seq gaps, and host liveness through the RPC, the metrics and the watch stream.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import {
  AgentEventsService,
  Outcome,
  PostEventRequestSchema,
} from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { HostService, Reachability } from "../../gen/nixfleet/ops/v1/host_service_pb.js";
import { RolloutService } from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { getRecord } from "../../src/storage/get-record.js";
import { listEvents } from "../../src/storage/list-events.js";
import {
  type BindingResponse,
  cleanup,
  client,
  type Identity,
  makeTestPki,
  openTestRollout,
  postBinding,
  request,
  startTestServer,
  type TestPki,
  type TestServer,
  writeRevocations,
} from "./harness.js";

const AT = "2026-05-16T01:40:00Z";
const target = (h: string) => `def456-nixos-system-${h}`;
const previous = (h: string) => `abc123-nixos-system-${h}-prev`;

function heartbeat(
  server: TestServer,
  pki: TestPki,
  identity: Identity,
  body: unknown,
): Promise<BindingResponse> {
  return request(server.url, pki.ca, identity, {
    path: "/v1/agent/heartbeat",
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** The original agent's heartbeat, byte for byte its shape (no rollout_id). */
const agentBeat = (h: string, closure: string, at = AT) =>
  `{"hostname":"${h}","current_closure":"${closure}","at":"${at}"}`;

const event = (h: string, rolloutId: string, e: Record<string, unknown>) =>
  ({ hostname: h, rolloutId, event: e }) as const;
const dispatchAck = (h: string, r: string) =>
  event(h, r, {
    kind: "DispatchAck",
    currentClosureAtDispatch: previous(h),
    receivedAt: "2026-05-16T01:27:01Z",
    seq: 1,
  });

describe("heartbeat over the binding", () => {
  let pki: TestPki;
  let server: TestServer;
  let revocations: string;
  before(async () => {
    pki = await makeTestPki();
    revocations = writeRevocations(pki, []);
    server = await startTestServer(pki, [
      "--revocations",
      revocations,
      "--heartbeat-interval",
      "300ms",
    ]);
  });
  after(async () => {
    await server.service.shutdown();
    cleanup(pki);
  });
  const db = () => server.service.database.db;
  const post = (h: string, body: unknown) => postBinding(server.url, pki.ca, pki.agent(h), body);

  test("LIFT #1: Activating and Deferred + heartbeat on target → Soaking; the agent's late ActivationCompleted is a duplicate", async () => {
    await openTestRollout(server, "lift@01", ["h1", "h2"]);
    assert.equal((await post("h1", dispatchAck("h1", "lift@01"))).status, 204);
    assert.equal((await post("h2", dispatchAck("h2", "lift@01"))).status, 204);
    const deferred = event("h2", "lift@01", {
      kind: "ActivationDeferred",
      component: "kernel",
      deferredAt: "2026-05-16T01:27:05Z",
      seq: 2,
    });
    assert.equal((await post("h2", deferred)).status, 204);

    const r1 = await heartbeat(server, pki, pki.agent("h1"), agentBeat("h1", target("h1")));
    assert.equal(r1.status, 200, r1.body);
    assert.equal(r1.headers["content-type"], "application/json");
    assert.equal(r1.headers["x-nixfleet-replay-from"], undefined);
    const body = JSON.parse(r1.body);
    // Bootstrap snapshots after synthesis, camelCase keys, optional ones omitted.
    assert.deepEqual(body, {
      received_at: AT,
      bootstrap_rollouts: [
        {
          rolloutId: "lift@01",
          hostname: "h1",
          channel: "lift",
          state: "Soaking",
          targetClosure: target("h1"),
          currentClosureAtDispatch: previous("h1"),
          currentClosure: target("h1"),
          dispatchedAt: body.bootstrap_rollouts[0].dispatchedAt,
          dispatchAckedAt: "2026-05-16T01:27:01Z",
          activationCompletedAt: AT,
          soakDueAt: body.bootstrap_rollouts[0].soakDueAt,
          lastEventSeq: 2,
        },
      ],
    });
    const r2 = await heartbeat(server, pki, pki.agent("h2"), agentBeat("h2", target("h2")));
    assert.equal(r2.status, 200);
    assert.equal((await getRecord(db(), "lift@01", "h2"))?.state, "Soaking");
    assert.equal((await getRecord(db(), "lift@01", "h2"))?.lastEventSeq, 3);

    // The agent comes back and reports what it did, with the seq the CP already used.
    const late = event("h1", "lift@01", {
      kind: "ActivationCompleted",
      observedCurrentClosure: target("h1"),
      exitCode: 0,
      completedAt: "2026-05-16T01:40:02Z",
      seq: 2,
    });
    assert.equal((await post("h1", late)).status, 204);
    const agent = client(AgentEventsService, server.url, pki.ca, pki.agent("h1"));
    const res = await agent.postEvent(
      create(PostEventRequestSchema, {
        hostname: "h1",
        rolloutId: "lift@01",
        event: {
          seq: 2n,
          kind: {
            case: "activationCompleted",
            value: { observedCurrentClosure: target("h1"), completedAt: { seconds: 1n } },
          },
        },
      }),
    );
    assert.equal(res.outcome, Outcome.DUPLICATE);
    const log = await listEvents(db(), { rolloutId: "lift@01", hostname: "h1", limit: 10 });
    assert.deepEqual(
      log.map((e) => [e.seq, e.kind, e.synthesized]),
      [
        [1, "DispatchAck", false],
        [2, "ActivationCompleted", true],
      ],
    );
    // Operators see the mark in ListEvents.
    const ops = client(RolloutService, server.url, pki.ca, pki.operator);
    const listed = await ops.listEvents({ rolloutId: "lift@01", hostname: "h1" });
    assert.deepEqual(
      listed.events.map((e) => e.synthesized),
      [false, true],
    );
  });

  test("LIFT #5: Pending + heartbeat on target → Converged, convergedAt clamped to soakDueAt", async () => {
    await openTestRollout(server, "lift@05", ["h3"], { soakDurationSecs: 3600 });
    const r = await heartbeat(server, pki, pki.agent("h3"), agentBeat("h3", target("h3")));
    assert.equal(r.status, 200);
    // Converged is no longer active: no bootstrap entry, and the key is omitted when empty.
    assert.deepEqual(JSON.parse(r.body), { received_at: AT });
    const record = await getRecord(db(), "lift@05", "h3");
    assert.equal(record?.state, "Converged");
    assert.equal(record?.convergedAt, record?.soakDueAt);
    assert.equal(record?.lastEventSeq, 3);
    assert.equal(record?.currentClosureAtDispatch, "");
  });

  test("Failed + heartbeat on the pre-dispatch closure → Reverted (and quarantined)", async () => {
    await openTestRollout(server, "fail@01", ["h4"]);
    assert.equal((await post("h4", dispatchAck("h4", "fail@01"))).status, 204);
    const failed = event("h4", "fail@01", {
      kind: "ActivationFailed",
      exitCode: 1,
      stderrTail: "boom",
      failedAt: "2026-05-16T01:27:05Z",
      seq: 2,
    });
    assert.equal((await post("h4", failed)).status, 204);
    const r = await heartbeat(server, pki, pki.agent("h4"), agentBeat("h4", previous("h4")));
    assert.equal(r.status, 200);
    const record = await getRecord(db(), "fail@01", "h4");
    assert.equal(record?.state, "Reverted");
    assert.equal(record?.revertedTo, previous("h4"));
  });

  test("Replay-From when the views disagree, none when they agree; unknown keys ignored", async () => {
    await openTestRollout(server, "replay@01", ["db-01"]);
    assert.equal((await post("db-01", dispatchAck("db-01", "replay@01"))).status, 204);
    const named = (closure: string) => ({
      hostname: "db-01",
      rollout_id: "replay@01",
      current_closure: closure,
      at: AT,
      agent_version: "0.9.1",
      extra: { nested: [1, 2] },
    });
    // Activating has no current closure yet and the agent reports one: replay from seq 1.
    const differ = await heartbeat(server, pki, pki.agent("db-01"), named("some-other-closure"));
    assert.equal(differ.status, 200, differ.body);
    assert.equal(differ.headers["x-nixfleet-replay-from"], "1");
    assert.deepEqual(JSON.parse(differ.body), { received_at: AT });
    // The agent (re)posts ActivationCompleted: now both agree, no header.
    const done = event("db-01", "replay@01", {
      kind: "ActivationCompleted",
      observedCurrentClosure: "some-other-closure",
      exitCode: 0,
      completedAt: "2026-05-16T01:27:09Z",
      seq: 2,
    });
    assert.equal((await post("db-01", done)).status, 204);
    const agree = await heartbeat(server, pki, pki.agent("db-01"), named("some-other-closure"));
    assert.equal(agree.status, 200);
    assert.equal(agree.headers["x-nixfleet-replay-from"], undefined);
  });

  test("seq gaps: 1, 2, 5 → applied, gap 2 in the response and on the record; replay-from fills it", async () => {
    await openTestRollout(server, "gap@01", ["web-02"]);
    const agent = client(AgentEventsService, server.url, pki.ca, pki.agent("web-02"));
    const started = (seq: number) =>
      create(PostEventRequestSchema, {
        hostname: "web-02",
        rolloutId: "gap@01",
        event: {
          seq: BigInt(seq),
          kind:
            seq === 1
              ? {
                  case: "dispatchAck",
                  value: { currentClosureAtDispatch: "p", receivedAt: { seconds: 1n } },
                }
              : {
                  case: "activationStarted",
                  value: { startedAt: { seconds: 2n }, switchMethod: "x" },
                },
        },
      });
    assert.equal((await agent.postEvent(started(1))).seqGap, 0n);
    assert.equal((await agent.postEvent(started(2))).seqGap, 0n);
    const five = await agent.postEvent(started(5));
    assert.equal(five.outcome, Outcome.APPLIED);
    assert.equal(five.lastEventSeq, 5n);
    assert.equal(five.seqGap, 2n);
    assert.equal(five.missingSeqCount, 2n);
    assert.deepEqual(five.missingSeqs, [3n, 4n]);
    const ops = client(RolloutService, server.url, pki.ca, pki.operator);
    const record = (await ops.getHostRollout({ rolloutId: "gap@01", hostname: "web-02" }))
      .hostRollout;
    assert.equal(record?.missingSeqCount, 2n);
    assert.deepEqual(record?.missingSeqs, [3n, 4n]);
    // A heartbeat naming the rollout asks for a replay from just below the first gap.
    const beat = await agent.heartbeat({
      hostname: "web-02",
      rolloutId: "gap@01",
      at: { seconds: 10n },
    });
    assert.equal(beat.replayFrom, 2n);
    assert.deepEqual(beat.bootstrapRollouts, []);
    // The agent resends 3 and 4: logged, the gap closes, no more replay.
    await agent.postEvent(started(3));
    const four = await agent.postEvent(started(4));
    assert.equal(four.missingSeqCount, 0n);
    const again = await agent.heartbeat({
      hostname: "web-02",
      rolloutId: "gap@01",
      at: { seconds: 11n },
    });
    assert.equal(again.replayFrom, undefined);
    const metrics = await request(server.url, pki.ca, pki.operator, {
      path: "/metrics",
      method: "GET",
    });
    assert.match(metrics.body, /nixfleet_cp_missing_seqs_total 2/);
    assert.match(metrics.body, /nixfleet_cp_seq_gap_events_total 1/);
  });

  test("400 malformed, 401 revoked, 403 another host or an operator; nothing written", async () => {
    const bad = async (body: unknown, field: string) => {
      const r = await heartbeat(server, pki, pki.agent("web-01"), body);
      assert.equal(r.status, 400, r.body);
      assert.equal(JSON.parse(r.body).field, field);
    };
    await bad("{not json", "body");
    await bad({ hostname: "web-01" }, "at");
    await bad({ hostname: "web-01", at: "yesterday" }, "at");
    await bad({ hostname: "web-01", rollout_id: "NotARollout", at: AT }, "rollout_id");
    await bad({ hostname: "web-01", current_closure: 7, at: AT }, "current_closure");
    await bad({ at: AT }, "hostname");
    const other = await heartbeat(server, pki, pki.agent("web-01"), agentBeat("h1", target("h1")));
    assert.equal(other.status, 403);
    const operator = await heartbeat(server, pki, pki.operator, agentBeat("web-01", "x"));
    assert.equal(operator.status, 403);
    const hosts = await client(HostService, server.url, pki.ca, pki.operator).listHosts({});
    assert.ok(!hosts.hosts.some((h) => h.hostname === "web-01"), "nothing was recorded");
    const notBefore = new Date(Date.now() - 1800_000).toISOString();
    writeFileSync(revocations, JSON.stringify([{ hostname: "web-01", notBefore, reason: "t" }]));
    let status = 0;
    for (let i = 0; i < 50 && status !== 401; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await heartbeat(server, pki, pki.oldWeb01, agentBeat("web-01", "x"))).status;
    }
    assert.equal(status, 401);
  });

  test("liveness: reachable, unreachable after 3 missed intervals, reachable again; RPC, metrics, watch", async () => {
    const hosts = client(HostService, server.url, pki.ca, pki.operator);
    const abort = new AbortController();
    const changes: string[] = [];
    let snapshotDone!: () => void;
    const ready = new Promise<void>((r) => {
      snapshotDone = r;
    });
    const watching = (async () => {
      for await (const m of hosts.watchHosts({}, { signal: abort.signal })) {
        if (m.update.case === "snapshotComplete") snapshotDone();
        if (m.update.case === "change" && m.update.value.hostname === "h2")
          changes.push(m.update.value.reachable ? "reachable" : "unreachable");
      }
    })().catch(() => {});
    await ready;
    const beat = () => heartbeat(server, pki, pki.agent("h2"), agentBeat("h2", target("h2")));
    assert.equal((await beat()).status, 200);
    const h2 = async (reachability = Reachability.UNSPECIFIED) =>
      (await hosts.listHosts({ reachability })).hosts.find((h) => h.hostname === "h2");
    assert.equal((await h2())?.reachable, true);
    assert.equal((await h2())?.currentClosure, target("h2"));
    // 3 × 300 ms of silence, then the periodic check notices.
    await new Promise((r) => setTimeout(r, 1300));
    assert.equal((await h2())?.reachable, false);
    assert.ok(await h2(Reachability.UNREACHABLE));
    assert.equal(await h2(Reachability.REACHABLE), undefined);
    const metrics = await request(server.url, pki.ca, pki.operator, {
      path: "/metrics",
      method: "GET",
    });
    const unreachable = Number(/nixfleet_cp_hosts_unreachable (\d+)/.exec(metrics.body)?.[1]);
    assert.ok(unreachable >= 1, metrics.body);
    assert.match(metrics.body, /nixfleet_cp_heartbeats_total\{outcome="ok"\} \d+/);
    // The list derives reachability when read; the watch hears it from the periodic check,
    // which a loaded machine may run late: wait for it before the host comes back.
    for (let i = 0; i < 100 && changes.at(-1) !== "unreachable"; i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal((await beat()).status, 200);
    assert.equal((await h2(Reachability.REACHABLE))?.reachable, true);
    for (let i = 0; i < 20 && changes.at(-1) !== "reachable"; i++)
      await new Promise((r) => setTimeout(r, 50));
    abort.abort();
    await watching;
    // h2 may have gone quiet since an earlier test: its first change is then "reachable".
    assert.deepEqual(changes.slice(-2), ["unreachable", "reachable"], changes.join(","));
  });
});

describe("heartbeat backpressure and restart", () => {
  test("a full channel answers 503 + Retry-After on the binding and resource_exhausted over Connect", async () => {
    const pki = await makeTestPki();
    const server = await startTestServer(pki, [
      "--channel-capacity",
      "1",
      "--batch-size",
      "1",
      "--debug-reducer-delay-ms",
      "200",
    ]);
    try {
      const results = await Promise.all(
        Array.from({ length: 8 }, () =>
          heartbeat(server, pki, pki.agent("h1"), agentBeat("h1", "c")),
        ),
      );
      const refused = results.filter((r) => r.status !== 200);
      assert.ok(refused.length > 0, results.map((r) => r.status).join(","));
      for (const r of refused) {
        assert.equal(r.status, 503);
        assert.equal(r.headers["retry-after"], "1");
      }
      const agent = client(AgentEventsService, server.url, pki.ca, pki.agent("h1"));
      const settled = await Promise.allSettled(
        Array.from({ length: 8 }, () => agent.heartbeat({ hostname: "h1", at: { seconds: 1n } })),
      );
      assert.ok(settled.some((s) => s.status === "rejected"));
    } finally {
      await server.service.shutdown();
      cleanup(pki);
    }
  });

  test("liveness survives a restart", async () => {
    const pki = await makeTestPki();
    let server = await startTestServer(pki);
    try {
      const r = await heartbeat(server, pki, pki.agent("db-01"), agentBeat("db-01", "c1"));
      assert.equal(r.status, 200);
      await server.service.shutdown();
      server = await startTestServer(pki);
      const listed = await client(HostService, server.url, pki.ca, pki.operator).listHosts({});
      const host = listed.hosts.find((h) => h.hostname === "db-01");
      assert.equal(host?.currentClosure, "c1");
      assert.equal(host?.reachable, true);
      assert.equal(host?.lastHeartbeatAt?.seconds, BigInt(Date.parse(AT) / 1000));
      assert.equal(listed.heartbeatInterval?.seconds, 60n);
    } finally {
      await server.service.shutdown();
      cleanup(pki);
    }
  });
});
