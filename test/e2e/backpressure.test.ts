// Overload and retries: a tiny channel with a slowed reducer sheds load with the right code on
// every protocol, stays responsive, and a retry after the hint succeeds; concurrent retries
// of one event apply it exactly once.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import {
  AgentEventsService,
  Outcome,
  type PostEventRequest,
  PostEventRequestSchema,
} from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { listEvents } from "../../src/storage/list-events.js";
import { streamBody } from "./agent-stream.js";
import {
  cleanup,
  client,
  makeTestPki,
  openTestRollout,
  PROTOCOLS,
  postBinding,
  request,
  startTestServer,
  type TestPki,
  type TestServer,
} from "./harness.js";

function started(hostname: string, rolloutId: string, seq: number): PostEventRequest {
  return create(PostEventRequestSchema, {
    hostname,
    rolloutId,
    event: {
      seq: BigInt(seq),
      kind:
        seq === 1
          ? {
              case: "dispatchAck",
              value: { currentClosureAtDispatch: "prev", receivedAt: { seconds: 1778894821n } },
            }
          : {
              case: "activationStarted",
              value: {
                startedAt: { seconds: 1778894821n + BigInt(seq) },
                switchMethod: "systemd-run",
              },
            },
    },
  });
}

describe("backpressure", () => {
  let pki: TestPki;
  let server: TestServer;
  before(async () => {
    pki = await makeTestPki();
    server = await startTestServer(pki, [
      "--channel-capacity",
      "2",
      "--batch-size",
      "1",
      "--debug-reducer-delay-ms",
      "150",
    ]);
    await openTestRollout(server, "load@01", ["h1", "h2", "h3", "h4"]);
  });
  after(async () => {
    await server.service.shutdown();
    cleanup(pki);
  });

  test("Connect and gRPC clients get resource_exhausted with a retry-after hint and RetryInfo", async () => {
    await client(AgentEventsService, server.url, pki.ca, pki.agent("h1")).postEvent(
      started("h1", "load@01", 1),
    );
    for (const protocol of PROTOCOLS) {
      const c = client(AgentEventsService, server.url, pki.ca, pki.agent("h1"), protocol);
      // Seqs far above anything applied, so none is a duplicate at the cheap check.
      const base = 1000 * (PROTOCOLS.indexOf(protocol) + 1);
      const results = await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) => c.postEvent(started("h1", "load@01", base + i))),
      );
      const shed = results
        .filter((r) => r.status === "rejected")
        .map((r) => ConnectError.from((r as PromiseRejectedResult).reason));
      assert.ok(shed.length > 0, `${protocol}: nothing was shed`);
      for (const e of shed) {
        assert.equal(e.code, Code.ResourceExhausted, `${protocol}: ${e.message}`);
        assert.equal(e.metadata.get("retry-after"), "1");
        const [info] = e.findDetails(RetryInfoSchema);
        assert.equal(info?.retryDelay?.seconds, 1n);
      }
    }
  });

  test("on the wire: Connect answers 429, gRPC grpc-status 8, the binding 503 with Retry-After", async () => {
    const burst = (
      send: (i: number) => Promise<{ status: number; headers: Record<string, unknown> }>,
    ) => Promise.all(Array.from({ length: 12 }, (_, i) => send(i)));
    const connectJson = await burst((i) =>
      request(server.url, pki.ca, pki.agent("h2"), {
        path: "/nixfleet.agent.v1.AgentEventsService/PostEvent",
        body: toJsonString(PostEventRequestSchema, started("h2", "load@01", 100 + i)),
      }),
    );
    assert.ok(connectJson.some((r) => r.status === 429 && r.headers["retry-after"] === "1"));

    const grpc = await burst((i) => {
      const msg = toBinary(PostEventRequestSchema, started("h2", "load@01", 200 + i));
      const frame = Buffer.alloc(5 + msg.length);
      frame.writeUInt32BE(msg.length, 1);
      frame.set(msg, 5);
      return grpcRequest(server.url, pki, frame);
    });
    assert.ok(
      grpc.some((r) => r.headers["grpc-status"] === "8"),
      JSON.stringify(grpc.map((r) => r.headers["grpc-status"])),
    );

    const binding = await burst((i) =>
      postBinding(server.url, pki.ca, pki.agent("h3"), streamBody("h3", "load@01", 300 + i)),
    );
    // 202 is a refusal on the merits (recorded, SPEC §10), not shedding.
    const refused = binding.filter((r) => r.status !== 204 && r.status !== 202);
    assert.ok(refused.length > 0);
    for (const r of refused) {
      assert.equal(r.status, 503);
      assert.equal(r.headers["retry-after"], "1");
    }
  });

  test("stays responsive while shedding, and a retry after the hint succeeds", async () => {
    const c = client(AgentEventsService, server.url, pki.ca, pki.agent("h4"));
    const flood = Array.from({ length: 10 }, (_, i) =>
      c.postEvent(started("h4", "load@01", i + 1)),
    );
    // Handle the outcomes from the start: shed answers can arrive before healthz does.
    const settled = Promise.allSettled(flood);
    const t0 = Date.now();
    const health = await request(server.url, pki.ca, pki.agent("h4"), {
      path: "/healthz",
      method: "GET",
    });
    assert.equal(health.status, 200);
    assert.ok(Date.now() - t0 < 1000, "healthz waited behind the queue");
    const results = await settled;
    const shedSeqs = results.flatMap((r, i) => (r.status === "rejected" ? [i + 1] : []));
    assert.ok(shedSeqs.length > 0);
    await new Promise((r) => setTimeout(r, 1000));
    // An agent retries with the same seqs; the last one lands (earlier ones may now be
    // duplicates of later applied seqs, which is still success).
    for (const seq of shedSeqs) {
      const res = await c.postEvent(started("h4", "load@01", seq));
      assert.ok(res.outcome === Outcome.APPLIED || res.outcome === Outcome.DUPLICATE);
    }
  });
});

describe("concurrent retries of one event", () => {
  let pki: TestPki;
  let server: TestServer;
  before(async () => {
    pki = await makeTestPki();
    server = await startTestServer(pki);
    await openTestRollout(server, "dup@02", ["h1"]);
  });
  after(async () => {
    await server.service.shutdown();
    cleanup(pki);
  });

  test("apply it once; every other answer is DUPLICATE (or 204 on the binding)", async () => {
    const req = started("h1", "dup@02", 1);
    const protoCalls = PROTOCOLS.flatMap((p) =>
      Array.from({ length: 5 }, () =>
        client(AgentEventsService, server.url, pki.ca, pki.agent("h1"), p).postEvent(req),
      ),
    );
    const bindingCalls = Array.from({ length: 5 }, () =>
      postBinding(server.url, pki.ca, pki.agent("h1"), streamBody("h1", "dup@02", 1)),
    );
    const [responses, bindings] = await Promise.all([
      Promise.all(protoCalls),
      Promise.all(bindingCalls),
    ]);
    const applied = responses.filter((r) => r.outcome === Outcome.APPLIED).length;
    assert.ok(applied <= 1);
    assert.equal(
      responses.filter((r) => r.outcome === Outcome.DUPLICATE).length,
      responses.length - applied,
    );
    for (const b of bindings) assert.equal(b.status, 204);
    const log = await listEvents(server.service.database.db, { rolloutId: "dup@02", limit: 100 });
    assert.equal(log.length, 1);
  });
});

function grpcRequest(
  url: string,
  pki: TestPki,
  frame: Buffer,
): Promise<{ status: number; headers: Record<string, unknown> }> {
  return import("node:http2").then(
    ({ connect }) =>
      new Promise((resolve, reject) => {
        const id = pki.agent("h2");
        const session = connect(url, { ca: pki.ca, cert: id.cert, key: id.key });
        session.on("error", reject);
        const stream = session.request({
          ":method": "POST",
          ":path": "/nixfleet.agent.v1.AgentEventsService/PostEvent",
          "content-type": "application/grpc",
          te: "trailers",
        });
        let status = 0;
        const headers: Record<string, unknown> = {};
        stream.on("response", (h) => {
          status = Number(h[":status"]);
          Object.assign(headers, h);
        });
        stream.on("trailers", (t) => Object.assign(headers, t));
        stream.on("data", () => {});
        stream.on("end", () => {
          session.close();
          resolve({ status, headers });
        });
        stream.on("error", reject);
        stream.end(frame);
      }),
  );
}

describe("unavailable while shutting down", () => {
  test("every protocol gets unavailable on an open connection; the accepted event is still answered", async () => {
    const pki = await makeTestPki();
    const server = await startTestServer(pki, ["--debug-reducer-delay-ms", "1500"]);
    try {
      await openTestRollout(server, "drain@03", ["h1", "h2"]);
      const clients = PROTOCOLS.map((p) =>
        client(AgentEventsService, server.url, pki.ca, pki.agent("h2"), p),
      );
      // Open each client's connection first: new connections are refused once draining.
      for (const c of clients) {
        const warm = await c
          .postEvent(started("h2", "nope@01", 1))
          .catch((e: unknown) => ConnectError.from(e));
        assert.ok(warm instanceof ConnectError && warm.code === Code.NotFound);
      }
      const accepted = client(AgentEventsService, server.url, pki.ca, pki.agent("h1")).postEvent(
        started("h1", "drain@03", 1),
      );
      await new Promise((r) => setTimeout(r, 100));
      const stopping = server.service.shutdown();
      for (const [i, c] of clients.entries()) {
        const e = await c
          .postEvent(started("h2", "drain@03", 1))
          .catch((err: unknown) => ConnectError.from(err));
        assert.ok(e instanceof ConnectError, `${PROTOCOLS[i]}: expected an error`);
        assert.equal(e.code, Code.Unavailable, `${PROTOCOLS[i]}: ${e.message}`);
        assert.equal(e.metadata.get("retry-after"), "1");
      }
      const binding = await postBinding(
        server.url,
        pki.ca,
        pki.agent("h2"),
        streamBody("h2", "drain@03", 1),
      ).catch(() => undefined);
      // A fresh connection may be refused outright; one that gets through must see 503.
      if (binding !== undefined) assert.equal(binding.status, 503);
      assert.equal((await accepted).outcome, Outcome.APPLIED);
      await stopping;
    } finally {
      await server.service.shutdown();
      cleanup(pki);
    }
  });
});
