// Each row of SPEC §3.3 over Connect JSON, Connect binary, gRPC and gRPC-Web against the real
// server over mTLS, checking the store is unchanged by every rejection.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  AgentEventsService,
  HostState,
  Outcome,
  type PostEventRequest,
  PostEventRequestSchema,
} from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { listEvents } from "../../src/storage/list-events.js";
import {
  cleanup,
  client,
  type Identity,
  makeTestPki,
  openTestRollout,
  PROTOCOLS,
  type Protocol,
  startTestServer,
  type TestPki,
  type TestServer,
  writeRevocations,
} from "./harness.js";

const ts = (iso: string) => {
  const ms = Date.parse(iso);
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
};

function dispatchAck(hostname: string, rolloutId: string, seq: number): PostEventRequest {
  return create(PostEventRequestSchema, {
    hostname,
    rolloutId,
    event: {
      seq: BigInt(seq),
      kind: {
        case: "dispatchAck",
        value: {
          currentClosureAtDispatch: `abc-${hostname}-prev`,
          receivedAt: ts("2026-05-16T01:27:01Z"),
        },
      },
    },
  });
}

async function codeOf(promise: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    return ConnectError.from(error).code;
  }
}

describe("PostEvent outcomes over every protocol", () => {
  let pki: TestPki;
  let server: TestServer;
  const post = (identity: Identity | undefined, protocol: Protocol, req: PostEventRequest) =>
    client(AgentEventsService, server.url, pki.ca, identity, protocol).postEvent(req);
  const logCount = async (rolloutId: string) =>
    (await listEvents(server.service.database.db, { rolloutId, limit: 1000 })).length;

  before(async () => {
    pki = await makeTestPki();
    const revocations = writeRevocations(pki, [
      {
        hostname: "web-01",
        notBefore: new Date(Date.now() - 1800_000).toISOString(),
        reason: "key leaked",
      },
    ]);
    server = await startTestServer(pki, ["--revocations", revocations]);
    for (const [i] of PROTOCOLS.entries()) {
      await openTestRollout(server, `proto${i}@0a${i}`, ["web-01", "h1", "h2"]);
    }
  });
  after(async () => {
    await server.service.shutdown();
    cleanup(pki);
  });

  for (const [i, protocol] of PROTOCOLS.entries()) {
    const rollout = `proto${i}@0a${i}`;
    describe(protocol, () => {
      test("applied: OK/APPLIED with the new state and seq", async () => {
        const res = await post(pki.agent("h1"), protocol, dispatchAck("h1", rollout, 1));
        assert.equal(res.outcome, Outcome.APPLIED);
        assert.equal(res.state, HostState.ACTIVATING);
        assert.equal(res.lastEventSeq, 1n);
      });

      test("duplicate: OK/DUPLICATE for a seq at or below the last", async () => {
        const res = await post(pki.agent("h1"), protocol, dispatchAck("h1", rollout, 1));
        assert.equal(res.outcome, Outcome.DUPLICATE);
        assert.equal(res.state, HostState.ACTIVATING);
        assert.equal(res.lastEventSeq, 1n);
      });

      test("invalid_argument names the field and writes nothing", async () => {
        const before = await logCount(rollout);
        const cases: [PostEventRequest, string][] = [
          [dispatchAck("h2", rollout, 0), "event.seq"],
          [dispatchAck("h2", "Stable@xyz", 1), "rolloutId"],
          [
            create(PostEventRequestSchema, {
              hostname: "h2",
              rolloutId: rollout,
              event: { seq: 1n },
            }),
            "event.kind",
          ],
          [
            create(PostEventRequestSchema, {
              hostname: "h2",
              rolloutId: rollout,
              event: {
                seq: 1n,
                kind: { case: "dispatchAck", value: { currentClosureAtDispatch: "x" } },
              },
            }),
            "event.dispatchAck.receivedAt",
          ],
        ];
        for (const [req, field] of cases) {
          try {
            await post(pki.agent("h2"), protocol, req);
            assert.fail(`expected invalid_argument for ${field}`);
          } catch (error) {
            const e = ConnectError.from(error);
            assert.equal(e.code, Code.InvalidArgument, e.message);
            assert.match(e.rawMessage, new RegExp(field.replaceAll(".", "\\.")));
          }
        }
        assert.equal(await logCount(rollout), before);
      });

      test("unauthenticated: a revoked certificate", async () => {
        const code = await codeOf(post(pki.oldWeb01, protocol, dispatchAck("web-01", rollout, 1)));
        assert.equal(code, Code.Unauthenticated);
      });

      test("no client certificate or one from another CA never gets through", async () => {
        for (const identity of [undefined, pki.foreign]) {
          const code = await codeOf(post(identity, protocol, dispatchAck("web-01", rollout, 1)));
          assert.notEqual(code, "ok");
        }
        assert.equal((await logCount(rollout)) > 0, true);
        const web01 = await listEvents(server.service.database.db, {
          rolloutId: rollout,
          hostname: "web-01",
          limit: 10,
        });
        assert.equal(web01.length, 0);
      });

      test("permission_denied: another host's event, or an operator posting", async () => {
        assert.equal(
          await codeOf(post(pki.agent("h1"), protocol, dispatchAck("h2", rollout, 1))),
          Code.PermissionDenied,
        );
        assert.equal(
          await codeOf(post(pki.operator, protocol, dispatchAck("h2", rollout, 1))),
          Code.PermissionDenied,
        );
        const h2 = await listEvents(server.service.database.db, {
          rolloutId: rollout,
          hostname: "h2",
          limit: 10,
        });
        assert.equal(h2.length, 0);
      });

      test("not_found: no record for the pair", async () => {
        assert.equal(
          await codeOf(post(pki.agent("h1"), protocol, dispatchAck("h1", "nope@ff", 1))),
          Code.NotFound,
        );
      });

      test("failed_precondition: illegal for the state, nothing changes", async () => {
        const req = dispatchAck("h1", rollout, 2); // a second DispatchAck on an Activating host
        const before = await logCount(rollout);
        try {
          await post(pki.agent("h1"), protocol, req);
          assert.fail("expected failed_precondition");
        } catch (error) {
          const e = ConnectError.from(error);
          assert.equal(e.code, Code.FailedPrecondition);
          assert.match(e.rawMessage, /DispatchAck is illegal for a host in state Activating/);
        }
        assert.equal(await logCount(rollout), before);
      });
    });
  }
});
