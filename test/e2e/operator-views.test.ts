// The operator views over real mTLS on SQLite and on PostgreSQL: refused events (from the
// binding and from Connect), quarantined closures, probe failures and rollouts with their
// derived status, through the RolloutService RPCs and the CLI commands.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import pg from "pg";
import {
  AgentEventsService,
  HostState,
  PostEventRequestSchema,
} from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { RolloutService, RolloutStatus } from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { PG_URL } from "../storage/harness.js";
import {
  cleanup,
  client,
  makeTestPki,
  openTestRollout,
  postBinding,
  startTestServer,
  type TestPki,
  type TestServer,
} from "./harness.js";

const run = promisify(execFile);
const BIN = new URL("../../bin/nixfleet-cp", import.meta.url).pathname;
const OPENED = "2026-05-16T01:20:00Z";
const at = (s: number) => new Date(Date.UTC(2026, 4, 16, 1, 27, s)).toISOString();
const target = (h: string) => `def456-nixos-system-${h}`;

type Event = Record<string, unknown>;
const ack = (seq: number): Event => ({
  kind: "DispatchAck",
  currentClosureAtDispatch: "abc123-prev",
  receivedAt: at(seq),
  seq,
});
const completed = (h: string, seq: number): Event => ({
  kind: "ActivationCompleted",
  observedCurrentClosure: target(h),
  exitCode: 0,
  completedAt: at(seq),
  seq,
});
const converged = (h: string, seq: number): Event => ({
  kind: "Converged",
  convergedAt: at(seq),
  currentClosure: target(h),
  seq,
});
const failed = (seq: number): Event => ({
  kind: "Failed",
  failedAt: at(seq),
  sustainedDurationSecs: 120,
  failingProbes: ["http"],
  policyApplied: "rollback-and-halt",
  seq,
});
const rollback = (seq: number): Event => ({
  kind: "RollbackComplete",
  revertedToClosure: "abc123-prev",
  exitCode: 0,
  completedAt: at(seq),
  seq,
});
const probe = (seq: number, name: string, subResults?: unknown[]): Event => ({
  kind: "ProbeResult",
  probeName: name,
  mode: "enforce",
  status: "fail",
  observedAt: at(seq),
  failureReason: `${name} down`,
  ...(subResults === undefined ? {} : { subResults }),
  seq,
});

/** A database URL per dialect, and how to drop it. */
async function databaseFor(kind: "sqlite" | "postgres", pki: TestPki) {
  if (kind === "sqlite") return { url: `${pki.dir}/views.sqlite`, drop: async () => {} };
  const name = `nixfleet_views_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const a = new pg.Client({ connectionString: PG_URL });
      await a.connect();
      await a.query(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}

for (const kind of ["sqlite", "postgres"] as const) {
  describe(`operator views (${kind})`, () => {
    let pki: TestPki;
    let server: TestServer;
    let drop: () => Promise<void>;
    const ops = () => client(RolloutService, server.url, pki.ca, pki.operator);
    const post = (host: string, rolloutId: string, event: Event) =>
      postBinding(server.url, pki.ca, pki.agent(host), { hostname: host, rolloutId, event });
    async function story(host: string, rolloutId: string, events: Event[]): Promise<void> {
      for (const event of events) {
        const res = await post(host, rolloutId, event);
        assert.equal(res.status, 204, `${host} ${String(event["kind"])}: ${res.body}`);
      }
    }
    async function cli(args: string[]): Promise<string> {
      const admin = pki.pki.operators["admin"];
      const { stdout } = await run(
        process.execPath,
        [
          BIN,
          ...args,
          "--server",
          server.url,
          "--ca",
          pki.pki.caPath,
          "--cert",
          admin?.certPath ?? "",
          "--key",
          admin?.keyPath ?? "",
        ],
        { timeout: 30_000 },
      );
      return stdout;
    }

    before(async () => {
      pki = await makeTestPki();
      const database = await databaseFor(kind, pki);
      drop = database.drop;
      server = await startTestServer(pki, ["--db", database.url]);
      const open = (id: string, hosts: string[]) =>
        openTestRollout(server, id, hosts, { now: OPENED, target });
      await open("views@0a", ["h1", "h2", "h3"]);
      await open("ok@0b", ["h1"]);
      await open("fresh@0c", ["h1"]);
      await open("views@0d", ["h4"]);
      // views@0a: h1 converges, h2 fails a probe and rolls back, h3 never moves.
      await story("h1", "views@0a", [ack(1), completed("h1", 2), converged("h1", 3)]);
      await story("h2", "views@0a", [
        ack(1),
        completed("h2", 2),
        probe(3, "http"),
        probe(4, "evidence", [
          { controlId: "A.8.1", status: "fail", framework: "nis2" },
          { controlId: "A.8.2", status: "pass", framework: "nis2" },
          { controlId: "enc", status: "fail", framework: "nis2", effectiveMode: "observe" },
        ]),
        failed(5),
        rollback(6),
      ]);
      await story("h1", "ok@0b", [ack(1), completed("h1", 2), converged("h1", 3)]);
      // views@0d: its only host rolls back, so the rollout is done, reverted.
      await story("h4", "views@0d", [ack(1), completed("h4", 2), failed(3), rollback(4)]);
      // Refusals: over the binding (an unknown rollout, an illegal event) and over Connect.
      assert.equal((await post("h3", "gone@0ff", ack(1))).status, 202);
      assert.equal((await post("h1", "views@0a", ack(4))).status, 202);
      const agent = client(AgentEventsService, server.url, pki.ca, pki.agent("h3"), "grpc");
      const illegal = await agent
        .postEvent(
          create(PostEventRequestSchema, {
            hostname: "h3",
            rolloutId: "views@0a",
            event: {
              seq: 1n,
              kind: {
                case: "converged",
                value: { convergedAt: { seconds: 1778894900n }, currentClosure: target("h3") },
              },
            },
          }),
        )
        .catch((e: unknown) => ConnectError.from(e));
      assert.ok(illegal instanceof ConnectError && illegal.code === Code.FailedPrecondition);
    });
    after(async () => {
      await server?.service.shutdown();
      await drop?.();
      cleanup(pki);
    });

    test("ListRollouts and GetRollout: derived status and counts by state", async () => {
      const { rollouts } = await ops().listRollouts({});
      assert.deepEqual(
        rollouts.map((r) => [r.rollout?.id, r.status, r.hostCount]),
        [
          ["fresh@0c", RolloutStatus.IN_PROGRESS, 1],
          ["ok@0b", RolloutStatus.CONVERGED, 1],
          ["views@0a", RolloutStatus.HALTED_ON_FAILURE, 3],
          ["views@0d", RolloutStatus.REVERTED, 1],
        ],
      );
      const { rollout } = await ops().getRollout({ rolloutId: "views@0a" });
      assert.deepEqual(
        rollout?.hostCounts.map((c) => [c.state, c.count]),
        [
          [HostState.PENDING, 1],
          [HostState.CONVERGED, 1],
          [HostState.REVERTED, 1],
        ],
      );
      const channel = await ops().listRollouts({ channel: "views", pageSize: 1 });
      assert.deepEqual(
        channel.rollouts.map((r) => r.rollout?.id),
        ["views@0a"],
      );
      const next = await ops().listRollouts({
        channel: "views",
        pageSize: 1,
        pageToken: channel.nextPageToken,
      });
      assert.deepEqual(
        next.rollouts.map((r) => r.rollout?.id),
        ["views@0d"],
      );
      assert.equal(next.nextPageToken, "");
      const missing = await ops()
        .getRollout({ rolloutId: "nope@00" })
        .catch((e: unknown) => ConnectError.from(e));
      assert.ok(missing instanceof ConnectError && missing.code === Code.NotFound);
    });

    test("ListQuarantinedClosures by channel", async () => {
      const all = await ops().listQuarantinedClosures({});
      assert.deepEqual(
        all.quarantinedClosures.map((q) => [q.channel, q.closure, q.hostname]),
        [
          ["views", target("h2"), "h2"],
          ["views", target("h4"), "h4"],
        ],
      );
      const none = await ops().listQuarantinedClosures({ channel: "ok" });
      assert.equal(none.quarantinedClosures.length, 0);
      const first = await ops().listQuarantinedClosures({ channel: "views", pageSize: 1 });
      const second = await ops().listQuarantinedClosures({
        channel: "views",
        pageSize: 1,
        pageToken: first.nextPageToken,
      });
      assert.deepEqual(
        [...first.quarantinedClosures, ...second.quarantinedClosures].map((q) => q.hostname),
        ["h2", "h4"],
      );
    });

    test("ListProbeFailures: the probe row only without sub-results; filters", async () => {
      const { probeFailures } = await ops().listProbeFailures({ rolloutId: "views@0a" });
      assert.deepEqual(
        probeFailures.map((f) => [f.hostname, f.probeName, f.controlId ?? null]),
        [
          ["h2", "http", null],
          ["h2", "evidence", "A.8.1"],
        ],
      );
      const byProbe = await ops().listProbeFailures({ hostname: "h2", probeName: "evidence" });
      assert.deepEqual(
        byProbe.probeFailures.map((f) => f.framework),
        ["nis2"],
      );
      const otherHost = await ops().listProbeFailures({ rolloutId: "views@0a", hostname: "h1" });
      assert.equal(otherHost.probeFailures.length, 0);
    });

    test("ListRefusedEvents: both surfaces, filters, pages; a bad reason is invalid", async () => {
      const { refusedEvents } = await ops().listRefusedEvents({});
      assert.deepEqual(
        refusedEvents.map((r) => [r.hostname, r.rolloutId, r.reason, r.protocol]),
        [
          ["h3", "gone@0ff", "not_found", "http-json"],
          ["h1", "views@0a", "illegal_for_state", "http-json"],
          ["h3", "views@0a", "illegal_for_state", "proto"],
        ],
      );
      const proto = refusedEvents[2];
      assert.equal(JSON.parse(proto?.request ?? "{}").event.converged.currentClosure, target("h3"));
      const h3 = await ops().listRefusedEvents({ hostname: "h3", reason: "illegal_for_state" });
      assert.equal(h3.refusedEvents.length, 1);
      const page1 = await ops().listRefusedEvents({ rolloutId: "views@0a", pageSize: 1 });
      const page2 = await ops().listRefusedEvents({
        rolloutId: "views@0a",
        pageSize: 1,
        pageToken: page1.nextPageToken,
      });
      assert.deepEqual(
        [...page1.refusedEvents, ...page2.refusedEvents].map((r) => r.hostname),
        ["h1", "h3"],
      );
      const bad = await ops()
        .listRefusedEvents({ reason: "bogus" })
        .catch((e: unknown) => ConnectError.from(e));
      assert.ok(bad instanceof ConnectError && bad.code === Code.InvalidArgument);
      const foreign = await ops()
        .listRefusedEvents({ hostname: "h1", pageToken: page1.nextPageToken })
        .catch((e: unknown) => ConnectError.from(e));
      assert.ok(foreign instanceof ConnectError && foreign.code === Code.InvalidArgument);
    });

    test("CLI: rollout list, rollout status, refusals, quarantines, probe-failures", async () => {
      const list = await cli(["rollout", "list"]);
      assert.match(
        list,
        /^views@0a\s+halted-on-failure\s+\S+\s+3 hosts: 1 Pending, 1 Converged, 1 Reverted$/m,
      );
      assert.match(list, /^ok@0b\s+converged\s/m);
      const status = await cli(["rollout", "status", "views@0d"]);
      assert.match(status, /^status: reverted$/m);
      const refusals = await cli(["refusals", "list", "--reason", "illegal_for_state"]);
      assert.match(refusals, /^ID\s+LAST REFUSED\s+COUNT\s+HOST/m);
      assert.match(refusals, /DispatchAck\s+illegal_for_state\s+DispatchAck is illegal/);
      assert.equal(refusals.trim().split("\n").length, 3, refusals);
      const json = (await cli(["refusals", "list", "--host", "h3", "--limit", "1", "--json"]))
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      assert.deepEqual(
        json.map((r) => r.reason),
        ["not_found"],
      );
      const quarantines = await cli(["quarantines", "list", "--channel", "views"]);
      assert.match(quarantines, new RegExp(`^views\\s+${target("h2")}\\s+views@0a\\s+h2`, "m"));
      const failures = await cli([
        "probe-failures",
        "list",
        "--rollout",
        "views@0a",
        "--probe",
        "evidence",
      ]);
      assert.match(failures, /views@0a\s+h2\s+evidence\s+A\.8\.1\s+nis2\s+evidence down/);
      assert.match(
        await cli(["quarantines", "list", "--channel", "ok"]),
        /^no quarantined closures match$/m,
      );
    });
  });
}
