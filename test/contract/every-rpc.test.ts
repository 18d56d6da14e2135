// Every RPC of every service the server registers, over Connect JSON, Connect binary, gRPC
// and gRPC-Web, against the real server over mTLS.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  AgentEventsService,
  HostState,
  Outcome,
  PostEventRequestSchema,
} from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { HealthFailurePolicy } from "../../gen/nixfleet/agent/v1/events_pb.js";
import { HostService, Reachability } from "../../gen/nixfleet/ops/v1/host_service_pb.js";
import { RolloutService, RolloutStatus } from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import {
  cleanup,
  client,
  makeTestPki,
  PROTOCOLS,
  startTestServer,
  type TestPki,
  type TestServer,
} from "../e2e/harness.js";

describe("every RPC over every protocol", () => {
  let pki: TestPki;
  let server: TestServer;
  before(async () => {
    pki = await makeTestPki();
    server = await startTestServer(pki);
  });
  after(async () => {
    await server.service.shutdown();
    cleanup(pki);
  });

  for (const [i, protocol] of PROTOCOLS.entries()) {
    describe(protocol, () => {
      const rolloutId = `rpc${i}@0${i}`;
      const ops = () => client(RolloutService, server.url, pki.ca, pki.operator, protocol);

      test("RolloutService/OpenRollout", async () => {
        const res = await ops().openRollout({
          rolloutId,
          onHealthFailure: HealthFailurePolicy.HALT,
          soakDuration: { seconds: 0n },
          hosts: [{ hostname: "h1", targetClosure: "next-h1" }],
        });
        assert.equal(res.created, true);
        assert.equal(res.rollout?.id, rolloutId);
      });

      test("RolloutService/WatchRollout and AgentEventsService/PostEvent", async () => {
        const abort = new AbortController();
        const seen: string[] = [];
        let sawSnapshot!: () => void;
        const snapshot = new Promise<void>((r) => {
          sawSnapshot = r;
        });
        let sawChange!: () => void;
        const change = new Promise<void>((r) => {
          sawChange = r;
        });
        const watching = (async () => {
          for await (const msg of ops().watchRollout({ rolloutId }, { signal: abort.signal })) {
            seen.push(msg.update.case ?? "");
            if (msg.update.case === "snapshotComplete") sawSnapshot();
            if (msg.update.case === "change") sawChange();
          }
        })().catch(() => {});
        await snapshot;
        const agent = client(AgentEventsService, server.url, pki.ca, pki.agent("h1"), protocol);
        const res = await agent.postEvent(
          create(PostEventRequestSchema, {
            hostname: "h1",
            rolloutId,
            event: {
              seq: 1n,
              kind: {
                case: "dispatchAck",
                value: { currentClosureAtDispatch: "prev", receivedAt: { seconds: 1n } },
              },
            },
          }),
        );
        assert.equal(res.outcome, Outcome.APPLIED);
        assert.equal(res.state, HostState.ACTIVATING);
        await change;
        abort.abort();
        await watching;
        assert.deepEqual(seen, ["snapshot", "snapshotComplete", "change"]);
      });

      test("RolloutService/GetHostRollout, ListHostRollouts, ListEvents", async () => {
        const record = await ops().getHostRollout({ rolloutId, hostname: "h1" });
        assert.equal(record.hostRollout?.state, HostState.ACTIVATING);
        const list = await ops().listHostRollouts({ rolloutId });
        assert.deepEqual(
          list.hostRollouts.map((r) => r.hostname),
          ["h1"],
        );
        const events = await ops().listEvents({ rolloutId });
        assert.deepEqual(
          events.events.map((e) => e.kind),
          ["DispatchAck"],
        );
      });

      test("AgentEventsService/PostEvents", async () => {
        const agent = client(AgentEventsService, server.url, pki.ca, pki.agent("h1"), protocol);
        // The event PostEvent applied above, again: one verdict, a duplicate, state unchanged.
        const res = await agent.postEvents({
          hostname: "h1",
          events: [
            {
              rolloutId,
              event: {
                seq: 1n,
                kind: {
                  case: "dispatchAck",
                  value: { currentClosureAtDispatch: "prev", receivedAt: { seconds: 1n } },
                },
              },
            },
          ],
        });
        assert.equal(res.verdicts.length, 1);
        const verdict = res.verdicts[0]?.verdict;
        assert.equal(verdict?.case, "accepted");
        if (verdict?.case === "accepted") {
          assert.equal(verdict.value.outcome, Outcome.DUPLICATE);
          assert.equal(verdict.value.state, HostState.ACTIVATING);
        }
      });

      test("AgentEventsService/Heartbeat, HostService/ListHosts and WatchHosts", async () => {
        const hosts = client(HostService, server.url, pki.ca, pki.operator, protocol);
        const abort = new AbortController();
        const seen: string[] = [];
        let sawSnapshot!: () => void;
        const snapshot = new Promise<void>((r) => {
          sawSnapshot = r;
        });
        let sawChange!: () => void;
        const change = new Promise<void>((r) => {
          sawChange = r;
        });
        // A host new to the server per protocol, so its first heartbeat is a liveness change.
        const host = ["web-01", "web-02", "db-01", "h2"][i] as string;
        const watching = (async () => {
          for await (const msg of hosts.watchHosts({}, { signal: abort.signal })) {
            if (msg.update.case === "snapshotComplete") {
              seen.push("snapshotComplete");
              sawSnapshot();
            }
            if (msg.update.case === "change" && msg.update.value.hostname === host) {
              seen.push("change");
              sawChange();
            }
          }
        })().catch(() => {});
        await snapshot;
        const agent = client(AgentEventsService, server.url, pki.ca, pki.agent(host), protocol);
        const res = await agent.heartbeat({
          hostname: host,
          rolloutId: rolloutId,
          currentClosure: "next-h1",
          at: { seconds: 1n },
        });
        assert.equal(res.receivedAt?.seconds, 1n);
        assert.deepEqual(res.bootstrapRollouts, []);
        await change;
        abort.abort();
        await watching;
        assert.deepEqual(seen, ["snapshotComplete", "change"]);
        const listed = await hosts.listHosts({ reachability: Reachability.REACHABLE });
        assert.ok(listed.hosts.some((h) => h.hostname === host && h.reachable));
      });

      test("RolloutService/GetRollout, ListRollouts, ListRefusedEvents, ListQuarantinedClosures, ListProbeFailures", async () => {
        // A refusal over this protocol: a second DispatchAck is illegal for Activating.
        const agent = client(AgentEventsService, server.url, pki.ca, pki.agent("h1"), protocol);
        const refused = await agent
          .postEvent(
            create(PostEventRequestSchema, {
              hostname: "h1",
              rolloutId,
              event: {
                seq: 2n,
                kind: {
                  case: "dispatchAck",
                  value: { currentClosureAtDispatch: "prev", receivedAt: { seconds: 2n } },
                },
              },
            }),
          )
          .catch((e: unknown) => ConnectError.from(e));
        assert.ok(refused instanceof ConnectError && refused.code === Code.FailedPrecondition);
        const { rollout } = await ops().getRollout({ rolloutId });
        assert.equal(rollout?.status, RolloutStatus.IN_PROGRESS);
        assert.deepEqual(
          rollout?.hostCounts.map((c) => [c.state, c.count]),
          [[HostState.ACTIVATING, 1]],
        );
        const { rollouts } = await ops().listRollouts({ channel: `rpc${i}` });
        assert.deepEqual(
          rollouts.map((r) => r.rollout?.id),
          [rolloutId],
        );
        const { refusedEvents } = await ops().listRefusedEvents({ rolloutId });
        assert.deepEqual(
          refusedEvents.map((r) => [r.reason, r.protocol, r.seq]),
          [["illegal_for_state", "proto", 2n]],
        );
        const quarantines = await ops().listQuarantinedClosures({ channel: `rpc${i}` });
        assert.deepEqual(quarantines.quarantinedClosures, []);
        const failures = await ops().listProbeFailures({ rolloutId });
        assert.deepEqual(failures.probeFailures, []);
      });

      test("grpc.health.v1.Health/Check and Watch", async () => {
        const health = client(Health, server.url, pki.ca, pki.agent("h1"), protocol);
        assert.equal((await health.check({})).status, ServingStatus.SERVING);
        const abort = new AbortController();
        const statuses: ServingStatus[] = [];
        await (async () => {
          for await (const r of health.watch(
            { service: "nixfleet.agent.v1.AgentEventsService" },
            { signal: abort.signal },
          )) {
            statuses.push(r.status);
            abort.abort();
          }
        })().catch((e: unknown) => assert.equal(ConnectError.from(e).code, Code.Canceled));
        assert.deepEqual(statuses, [ServingStatus.SERVING]);
      });

      // Reflection is a bidi stream: gRPC-Web cannot carry it (buf curl's own test covers it).
      if (protocol !== "grpc-web") {
        test("grpc.reflection.v1.ServerReflection/ServerReflectionInfo", async () => {
          const reflection = client(ServerReflection, server.url, pki.ca, pki.operator, protocol);
          async function* one() {
            yield { messageRequest: { case: "listServices" as const, value: "" } };
          }
          for await (const res of reflection.serverReflectionInfo(one())) {
            assert.equal(res.messageResponse.case, "listServicesResponse");
            if (res.messageResponse.case === "listServicesResponse") {
              const names = res.messageResponse.value.service.map((s) => s.name);
              assert.ok(names.includes("nixfleet.ops.v1.RolloutService"));
            }
          }
        });
      }
    });
  }
});
