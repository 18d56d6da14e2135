// The operator surface over real mTLS: buf curl through server reflection (no schema),
// RolloutService reads and the watch stream, health through the lifecycle, role checks and
// Prometheus metrics that match the requests made.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health_pb.js";
import {
  AgentEventsService,
  HostState,
  type PostEventRequest,
  PostEventRequestSchema,
} from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { HealthFailurePolicy } from "../../gen/nixfleet/agent/v1/events_pb.js";
import {
  RolloutService,
  type WatchRolloutResponse,
} from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { streamBody } from "./agent-stream.js";
import {
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
} from "./harness.js";

const run = promisify(execFile);
const BUF = new URL("../../node_modules/.bin/buf", import.meta.url).pathname;
const ROLLOUT = "ops@0abc";
// Agent times just after the rollout opens (soak 0), so Converged's soak invariant holds.
const T0 = BigInt(Math.floor(Date.now() / 1000) + 60);

async function bufCurl(pki: TestPki, identity: Identity, args: string[]): Promise<string> {
  const { writeFileSync } = await import("node:fs");
  const cert = `${pki.dir}/buf-cert.pem`;
  const key = `${pki.dir}/buf-key.pem`;
  writeFileSync(cert, identity.cert);
  writeFileSync(key, identity.key, { mode: 0o600 });
  const { stdout } = await run(
    BUF,
    ["curl", "--cacert", pki.pki.caPath, "--cert", cert, "--key", key, ...args],
    {
      timeout: 60_000,
    },
  );
  return stdout;
}

/** A oneof case of AgentEvent with its message's init fields (checked by the server anyway). */
type Kind = { case: string; value: Record<string, unknown> };
function ev(hostname: string, seq: number, kind: Kind): PostEventRequest {
  return create(PostEventRequestSchema, {
    hostname,
    rolloutId: ROLLOUT,
    event: { seq: BigInt(seq), kind: kind as never },
  });
}
const ts = (s: number) => create(TimestampSchema, { seconds: T0 + BigInt(s) });

/** The story: h1 converges, h2 fails a probe and reverts; events interleaved. */
function story(): PostEventRequest[] {
  return [
    ev("h1", 1, {
      case: "dispatchAck",
      value: { currentClosureAtDispatch: "prev-h1", receivedAt: ts(1) },
    }),
    ev("h2", 1, {
      case: "dispatchAck",
      value: { currentClosureAtDispatch: "prev-h2", receivedAt: ts(2) },
    }),
    ev("h1", 2, {
      case: "activationStarted",
      value: { startedAt: ts(3), switchMethod: "systemd-run" },
    }),
    ev("h1", 3, {
      case: "activationCompleted",
      value: { observedCurrentClosure: "next-h1", exitCode: 0, completedAt: ts(4) },
    }),
    ev("h2", 2, {
      case: "activationCompleted",
      value: { observedCurrentClosure: "next-h2", exitCode: 0, completedAt: ts(5) },
    }),
    ev("h1", 4, {
      case: "probeResult",
      value: { probeName: "nginx", mode: 1, status: 1, observedAt: ts(6), subResults: [] },
    }),
    ev("h2", 3, {
      case: "probeResult",
      value: {
        probeName: "nginx",
        mode: 1,
        status: 2,
        observedAt: ts(7),
        failureReason: "502",
        subResults: [],
      },
    }),
    ev("h2", 4, {
      case: "failed",
      value: {
        failedAt: ts(8),
        sustainedDurationSecs: 120n,
        failingProbes: ["nginx"],
        policyApplied: HealthFailurePolicy.ROLLBACK_AND_HALT,
      },
    }),
    ev("h1", 5, { case: "converged", value: { convergedAt: ts(9), currentClosure: "next-h1" } }),
    ev("h2", 5, {
      case: "rollbackComplete",
      value: { revertedToClosure: "prev-h2", exitCode: 0, completedAt: ts(10) },
    }),
  ];
}

describe("operator surface", () => {
  let pki: TestPki;
  let server: TestServer;
  const ops = () => client(RolloutService, server.url, pki.ca, pki.operator);
  const watched: WatchRolloutResponse[] = [];
  let watchDone: Promise<void>;
  const watchAbort = new AbortController();

  before(async () => {
    pki = await makeTestPki();
    server = await startTestServer(pki);
  });
  after(async () => {
    watchAbort.abort();
    await watchDone?.catch(() => {});
    await server.service.shutdown();
    cleanup(pki);
  });

  test("buf curl lists every service and method through reflection", async () => {
    const services = await bufCurl(pki, pki.operator, ["--list-services", server.url]);
    for (const name of [
      "nixfleet.agent.v1.AgentEventsService",
      "nixfleet.ops.v1.RolloutService",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]) {
      assert.match(services, new RegExp(name.replaceAll(".", "\\.")));
    }
    const methods = await bufCurl(pki, pki.operator, ["--list-methods", server.url]);
    for (const m of [
      "AgentEventsService/PostEvent",
      "RolloutService/OpenRollout",
      "RolloutService/WatchRollout",
      "Health/Check",
    ]) {
      assert.match(methods, new RegExp(m));
    }
    // Reflection answers large descriptor sets: only operators may ask (--reflection).
    await assert.rejects(
      bufCurl(pki, pki.agent("h1"), ["--list-methods", server.url]),
      /permission_denied|PermissionDenied/i,
    );
  });

  test("buf curl opens the rollout with an operator certificate (no --schema)", async () => {
    const body = JSON.stringify({
      rolloutId: ROLLOUT,
      onHealthFailure: "HEALTH_FAILURE_POLICY_ROLLBACK_AND_HALT",
      soakDuration: "0s",
      hosts: [
        { hostname: "h1", targetClosure: "next-h1" },
        { hostname: "h2", targetClosure: "next-h2" },
      ],
    });
    const out = JSON.parse(
      await bufCurl(pki, pki.operator, [
        "-d",
        body,
        `${server.url}/nixfleet.ops.v1.RolloutService/OpenRollout`,
      ]),
    );
    assert.equal(out.created, true);
    assert.equal(out.hostCount, 2);
    assert.equal(out.rollout.channel, "ops");
    const again = JSON.parse(
      await bufCurl(pki, pki.operator, [
        "-d",
        body,
        `${server.url}/nixfleet.ops.v1.RolloutService/OpenRollout`,
      ]),
    );
    assert.equal(again.created ?? false, false);
  });

  test("a watch opened before the first event sees the snapshot", async () => {
    const stream = ops().watchRollout({ rolloutId: ROLLOUT }, { signal: watchAbort.signal });
    let snapshotDone!: () => void;
    const snapshot = new Promise<void>((r) => {
      snapshotDone = r;
    });
    watchDone = (async () => {
      for await (const msg of stream) {
        watched.push(msg);
        if (msg.update.case === "snapshotComplete") snapshotDone();
      }
    })().catch(() => {});
    await snapshot;
    assert.deepEqual(
      watched.map((m) =>
        m.update.case === "snapshot"
          ? [m.update.value.hostname, m.update.value.state]
          : m.update.case,
      ),
      [["h1", HostState.PENDING], ["h2", HostState.PENDING], "snapshotComplete"],
    );
  });

  test("agents post the story over Connect", async () => {
    const agents = { h1: pki.agent("h1"), h2: pki.agent("h2") };
    for (const req of story()) {
      const c = client(AgentEventsService, server.url, pki.ca, agents[req.hostname as "h1" | "h2"]);
      await c.postEvent(req);
    }
  });

  test("the watch saw every state change exactly once, in commit order", async () => {
    const expected = [
      ["h1", "PENDING", "ACTIVATING"],
      ["h2", "PENDING", "ACTIVATING"],
      ["h1", "ACTIVATING", "SOAKING"],
      ["h2", "ACTIVATING", "SOAKING"],
      ["h2", "SOAKING", "FAILED"],
      ["h1", "SOAKING", "CONVERGED"],
      ["h2", "FAILED", "REVERTED"],
    ];
    for (
      let i = 0;
      i < 100 && watched.filter((m) => m.update.case === "change").length < expected.length;
      i++
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 100)); // nothing more may arrive
    const changes = watched.flatMap((m) =>
      m.update.case === "change"
        ? [[m.update.value.hostname, HostState[m.update.value.from], HostState[m.update.value.to]]]
        : [],
    );
    assert.deepEqual(changes, expected);
    const ids = watched.flatMap((m) =>
      m.update.case === "change" ? [m.update.value.eventId] : [],
    );
    assert.deepEqual(
      [...ids].sort((a, b) => (a < b ? -1 : 1)),
      ids,
    );
  });

  test("GetHostRollout returns every record field", async () => {
    const h1 = (await ops().getHostRollout({ rolloutId: ROLLOUT, hostname: "h1" })).hostRollout;
    assert.ok(h1);
    assert.equal(h1.state, HostState.CONVERGED);
    assert.equal(h1.channel, "ops");
    assert.equal(h1.targetClosure, "next-h1");
    assert.equal(h1.currentClosureAtDispatch, "prev-h1");
    assert.equal(h1.currentClosure, "next-h1");
    assert.equal(h1.revertedTo, undefined);
    assert.equal(h1.dispatchAckedAt?.seconds, T0 + 1n);
    assert.equal(h1.activationStartedAt?.seconds, T0 + 3n);
    assert.equal(h1.activationCompletedAt?.seconds, T0 + 4n);
    assert.equal(h1.convergedAt?.seconds, T0 + 9n);
    assert.ok(h1.dispatchedAt && h1.soakDueAt);
    assert.equal(h1.soakDueAt.seconds, h1.dispatchedAt.seconds);
    assert.equal(h1.lastEventSeq, 5n);
    assert.deepEqual(
      h1.probes.map((p) => [p.probeName, p.status, p.lastPassAt?.seconds]),
      [["nginx", 1, T0 + 6n]],
    );
    const h2 = (await ops().getHostRollout({ rolloutId: ROLLOUT, hostname: "h2" })).hostRollout;
    assert.ok(h2);
    assert.equal(h2.state, HostState.REVERTED);
    assert.equal(h2.revertedTo, "prev-h2");
    assert.equal(h2.currentClosure, "prev-h2");
    assert.equal(h2.failedAt?.seconds, T0 + 8n);
    assert.equal(h2.revertedAt?.seconds, T0 + 10n);
    assert.equal(h2.policyApplied, HealthFailurePolicy.ROLLBACK_AND_HALT);
    assert.equal(h2.activationStartedAt, undefined);
    assert.deepEqual(
      h2.probes.map((p) => [p.probeName, p.status, p.failureReason]),
      [["nginx", 2, "502"]],
    );
    const missing = await ops()
      .getHostRollout({ rolloutId: ROLLOUT, hostname: "nope" })
      .catch((e: unknown) => ConnectError.from(e).code);
    assert.equal(missing, Code.NotFound);
  });

  test("ListEvents returns the log in commit order with the agent's event as JSON", async () => {
    const res = await ops().listEvents({ rolloutId: ROLLOUT });
    const got = res.events.map((e) => [e.hostname, Number(e.seq), e.kind]);
    const want = story().map((r) => [
      r.hostname,
      Number(r.event?.seq),
      r.event?.kind.case?.replace(/^./, (c) => c.toUpperCase()),
    ]);
    assert.deepEqual(got, want);
    assert.equal(res.lastId, res.events.at(-1)?.id);
    const first = res.events[0]?.event;
    assert.deepEqual(first, {
      kind: "DispatchAck",
      currentClosureAtDispatch: "prev-h1",
      receivedAt: new Date(Number(T0 + 1n) * 1000).toISOString().replace(".000Z", "Z"),
      seq: 1,
    });
    const page = await ops().listEvents({
      rolloutId: ROLLOUT,
      hostname: "h2",
      afterId: res.events[2]?.id ?? 0n,
      limit: 2,
    });
    assert.deepEqual(
      page.events.map((e) => Number(e.seq)),
      [2, 3],
    );
  });

  test("ListHostRollouts filters and pages", async () => {
    const first = await ops().listHostRollouts({ rolloutId: ROLLOUT, pageSize: 1 });
    assert.equal(first.hostRollouts[0]?.hostname, "h1");
    const second = await ops().listHostRollouts({
      rolloutId: ROLLOUT,
      pageSize: 1,
      pageToken: first.nextPageToken,
    });
    assert.equal(second.hostRollouts[0]?.hostname, "h2");
    const reverted = await ops().listHostRollouts({ state: HostState.REVERTED });
    assert.deepEqual(
      reverted.hostRollouts.map((r) => r.hostname),
      ["h2"],
    );
  });

  test("an agent certificate gets permission_denied on every RolloutService RPC", async () => {
    const asAgent = client(RolloutService, server.url, pki.ca, pki.agent("h1"));
    const codes = await Promise.all([
      asAgent.openRollout({ rolloutId: ROLLOUT }).catch((e: unknown) => ConnectError.from(e).code),
      asAgent
        .getHostRollout({ rolloutId: ROLLOUT, hostname: "h1" })
        .catch((e: unknown) => ConnectError.from(e).code),
      asAgent.listHostRollouts({}).catch((e: unknown) => ConnectError.from(e).code),
      asAgent.listEvents({ rolloutId: ROLLOUT }).catch((e: unknown) => ConnectError.from(e).code),
      (async () => {
        for await (const _ of asAgent.watchRollout({ rolloutId: ROLLOUT })) return "ok";
        return "ended";
      })().catch((e: unknown) => ConnectError.from(e).code),
    ]);
    assert.deepEqual(codes, Array(5).fill(Code.PermissionDenied));
  });

  test("/metrics is Prometheus text whose counters match the requests made", async () => {
    // One binding request (h1 posting as h2: 403), counted by HTTP status, not as an RPC.
    const binding = await postBinding(
      server.url,
      pki.ca,
      pki.agent("h1"),
      streamBody("h2", ROLLOUT, 99),
    );
    assert.equal(binding.status, 403);
    const denied = await request(server.url, pki.ca, pki.agent("h1"), {
      path: "/metrics",
      method: "GET",
    });
    assert.equal(denied.status, 403);
    const res = await request(server.url, pki.ca, pki.operator, {
      path: "/metrics",
      method: "GET",
    });
    assert.equal(res.status, 200);
    const samples = parsePrometheus(res.body);
    const value = (name: string, labels: Record<string, string>) =>
      samples.find(
        (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
      )?.value;
    assert.equal(
      value("nixfleet_cp_requests_total", {
        rpc: "nixfleet.agent.v1.AgentEventsService/PostEvent",
        protocol: "connect",
        code: "ok",
      }),
      10,
    );
    assert.equal(value("nixfleet_cp_events_total", { kind: "DispatchAck", outcome: "applied" }), 2);
    assert.equal(value("nixfleet_cp_events_total", { kind: "Converged", outcome: "applied" }), 1);
    assert.equal(
      value("nixfleet_cp_requests_total", {
        rpc: "nixfleet.ops.v1.RolloutService/GetHostRollout",
        code: "ok",
      }),
      2,
    );
    assert.equal(
      value("nixfleet_cp_requests_total", {
        rpc: "nixfleet.ops.v1.RolloutService/GetHostRollout",
        code: "not_found",
      }),
      1,
    );
    assert.equal(
      value("nixfleet_cp_requests_total", {
        rpc: "nixfleet.ops.v1.RolloutService/ListEvents",
        code: "permission_denied",
      }),
      1,
    );
    assert.equal(
      value("nixfleet_cp_http_requests_total", {
        route: "POST /v1/agent/events",
        status: "403",
      }),
      1,
    );
    // RPC codes are Connect code names only; HTTP statuses live in their own family.
    const rpcCodes = new Set(
      samples.filter((s) => s.name === "nixfleet_cp_requests_total").map((s) => s.labels["code"]),
    );
    for (const code of rpcCodes) assert.match(code ?? "", /^[a-z_]+$/, `RPC code label ${code}`);
    assert.ok(
      samples
        .filter((s) => s.name === "nixfleet_cp_requests_total")
        .every((s) => s.labels["protocol"] !== "http-json"),
    );
    assert.equal(value("nixfleet_cp_channel_capacity", {}), 1024);
    assert.equal(value("nixfleet_cp_hosts", { rollout_id: ROLLOUT, state: "Reverted" }), 1);
    assert.equal(value("nixfleet_cp_hosts", { rollout_id: ROLLOUT, state: "Converged" }), 1);
    assert.equal(value("nixfleet_cp_reducer_batch_size_count", {}), 10);
  });

  test("every metric family served is in the README's Metrics table, with its type and labels", async () => {
    const res = await request(server.url, pki.ca, pki.operator, {
      path: "/metrics",
      method: "GET",
    });
    const served = new Map<string, { type: string; labels: Set<string> }>();
    for (const m of res.body.matchAll(/^# TYPE (\S+) (\S+)$/gm))
      served.set(m[1] as string, { type: m[2] as string, labels: new Set() });
    for (const sample of parsePrometheus(res.body)) {
      const family = sample.name.replace(/_(bucket|sum|count)$/, "");
      const labels = served.get(served.has(sample.name) ? sample.name : family)?.labels;
      for (const label of Object.keys(sample.labels)) if (label !== "le") labels?.add(label);
    }
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const section = readme.slice(readme.indexOf("\n## Metrics\n"));
    const documented = new Map<string, { type: string; labels: string }>();
    for (const m of section.matchAll(/^\| `(nixfleet_cp_\w+)` \| (\w+) \| ([^|]*) \|/gm))
      documented.set(m[1] as string, { type: m[2] as string, labels: (m[3] as string).trim() });
    for (const name of served.keys())
      assert.ok(
        documented.has(name),
        `${name} is served but not in README.md's "## Metrics" table`,
      );
    for (const name of documented.keys())
      assert.ok(served.has(name), `${name} is in README.md's "## Metrics" table but not served`);
    for (const [name, { type, labels }] of served) {
      const doc = documented.get(name);
      assert.equal(doc?.type, type, name);
      // Labels seen in samples must be documented (a family with no samples yet shows none).
      for (const label of labels)
        assert.ok(doc?.labels.includes(`\`${label}\``), `${name} ${label}`);
    }
  });

  test("health answers SERVING and /readyz 200 while running", async () => {
    const out = JSON.parse(
      await bufCurl(pki, pki.operator, ["-d", "{}", `${server.url}/grpc.health.v1.Health/Check`]),
    );
    assert.equal(out.status, "SERVING");
    const ready = await request(server.url, pki.ca, pki.operator, {
      path: "/readyz",
      method: "GET",
    });
    assert.equal(ready.status, 200);
  });
});

describe("health through the lifecycle", () => {
  test("Check answers NOT_SERVING and a Watch sees the change while the server drains", async () => {
    const pki = await makeTestPki();
    const server = await startTestServer(pki, ["--debug-reducer-delay-ms", "1500"]);
    try {
      await openTestRollout(server, ROLLOUT, ["h1"]);
      const health = client(Health, server.url, pki.ca, pki.operator, "grpc");
      assert.equal((await health.check({})).status, ServingStatus.SERVING);
      const watchAbort = new AbortController();
      const seen: ServingStatus[] = [];
      const watching = (async () => {
        for await (const r of health.watch({}, { signal: watchAbort.signal })) seen.push(r.status);
      })().catch(() => {});
      // An accepted event keeps the reducer busy, so the drain takes a while.
      const agent = client(AgentEventsService, server.url, pki.ca, pki.agent("h1"));
      const posted = agent.postEvent(
        ev("h1", 1, {
          case: "dispatchAck",
          value: { currentClosureAtDispatch: "p", receivedAt: ts(1) },
        }),
      );
      await new Promise((r) => setTimeout(r, 100));
      const stopping = server.service.shutdown();
      assert.equal((await health.check({})).status, ServingStatus.NOT_SERVING);
      const ready = await request(server.url, pki.ca, pki.operator, {
        path: "/readyz",
        method: "GET",
      }).catch(() => ({ status: 503 }));
      assert.equal(ready.status, 503);
      // The event accepted before shutdown is still committed and answered.
      assert.equal((await posted).state, HostState.ACTIVATING);
      await stopping;
      watchAbort.abort();
      await watching;
      assert.deepEqual(seen.slice(0, 2), [ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    } finally {
      await server.service.shutdown();
      cleanup(pki);
    }
  });
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict reader of the Prometheus text format: every line must be a comment or a sample. */
function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("#")) {
      assert.match(line, /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$/, line);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] as string] = l[2] as string;
    }
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return samples;
}
