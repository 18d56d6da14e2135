// Per-event signatures (SPEC §9): verified against the client certificate's key when present,
// required on demand, and kept in the event log for audit.
import assert from "node:assert/strict";
import { sign } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  AgentEventsService,
  Outcome,
  PostEventRequestSchema,
} from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { canonicalJson } from "../../src/server/signature/canonical-json.js";
import { listEvents } from "../../src/storage/list-events.js";
import {
  cleanup,
  client,
  type Identity,
  makeTestPki,
  openTestRollout,
  postBinding,
  startTestServer,
  type TestPki,
  type TestServer,
} from "./harness.js";

const signEvent = (identity: Identity, event: unknown, dsaEncoding: "der" | "ieee-p1363" = "der") =>
  sign("sha256", Buffer.from(canonicalJson(event)), { key: identity.key, dsaEncoding });

const ack = (seq: number) => ({
  kind: "DispatchAck",
  currentClosureAtDispatch: "abc123-prev",
  receivedAt: "2026-05-16T01:27:01Z",
  seq,
});
const started = (seq: number) => ({
  kind: "ActivationStarted",
  startedAt: "2026-05-16T01:27:03.500Z",
  switchMethod: "systemd-run",
  seq,
});

describe("signed events", () => {
  let pki: TestPki;
  let server: TestServer;
  let strict: TestServer;
  before(async () => {
    pki = await makeTestPki();
    server = await startTestServer(pki);
    await openTestRollout(server, "sig@01", ["web-01", "web-02"]);
    strict = await startTestServer(pki, [
      "--require-signatures",
      "true",
      "--db",
      `${pki.dir}/strict.sqlite`,
    ]);
    await openTestRollout(strict, "sig@01", ["web-01"]);
  });
  after(async () => {
    await server.service.shutdown();
    await strict.service.shutdown();
    cleanup(pki);
  });

  test("the binding: a valid signature is applied and kept in the log", async () => {
    const web01 = pki.agent("web-01");
    const event = ack(1);
    const signature = signEvent(web01, event);
    const res = await postBinding(server.url, pki.ca, web01, {
      hostname: "web-01",
      rolloutId: "sig@01",
      event,
      signature: signature.toString("hex"),
    });
    assert.equal(res.status, 204, res.body);
    const [logged] = await listEvents(server.service.database.db, {
      rolloutId: "sig@01",
      limit: 10,
    });
    assert.deepEqual(Buffer.from(logged?.signature ?? []), signature);
  });

  test("a tampered event, or another host's key, is refused (202, recorded) naming the signature", async () => {
    const web01 = pki.agent("web-01");
    const tampered = { ...started(2), switchMethod: "evil" };
    const forged = [
      { event: tampered, signature: signEvent(web01, started(2)) },
      { event: started(2), signature: signEvent(pki.agent("web-02"), started(2)) },
      { event: started(2), signature: Buffer.from("00ff", "hex") },
    ];
    for (const { event, signature } of forged) {
      const res = await postBinding(server.url, pki.ca, web01, {
        hostname: "web-01",
        rolloutId: "sig@01",
        event,
        signature: signature.toString("hex"),
      });
      assert.equal(res.status, 202);
      assert.equal(JSON.parse(res.body).field, "signature");
      assert.equal(JSON.parse(res.body).reason, "signature");
    }
    assert.equal(
      (await listEvents(server.service.database.db, { rolloutId: "sig@01", limit: 10 })).length,
      1,
    );
  });

  test("Connect: the signature covers the event's binding shape (P1363 accepted too)", async () => {
    const web01 = pki.agent("web-01");
    const c = client(AgentEventsService, server.url, pki.ca, web01, "connect-binary");
    const req = (signature: Uint8Array) =>
      create(PostEventRequestSchema, {
        hostname: "web-01",
        rolloutId: "sig@01",
        signature,
        event: {
          seq: 2n,
          kind: {
            case: "activationStarted",
            value: {
              startedAt: { seconds: 1778894823n, nanos: 500_000_000 },
              switchMethod: "systemd-run",
            },
          },
        },
      });
    const bad = await c
      .postEvent(req(signEvent(web01, { ...started(2), seq: 3 })))
      .catch((e: unknown) => ConnectError.from(e));
    assert.ok(
      bad instanceof ConnectError &&
        bad.code === Code.InvalidArgument &&
        /signature/.test(bad.rawMessage),
    );
    const res = await c.postEvent(req(signEvent(web01, started(2), "ieee-p1363")));
    assert.equal(res.outcome, Outcome.APPLIED);
  });

  test("--require-signatures refuses unsigned events and accepts signed ones", async () => {
    const web01 = pki.agent("web-01");
    const unsigned = await postBinding(strict.url, pki.ca, web01, {
      hostname: "web-01",
      rolloutId: "sig@01",
      event: ack(1),
    });
    assert.equal(unsigned.status, 202);
    assert.match(JSON.parse(unsigned.body).message, /requires signed events/);
    const signed = await postBinding(strict.url, pki.ca, web01, {
      hostname: "web-01",
      rolloutId: "sig@01",
      event: ack(1),
      signature: signEvent(web01, ack(1)).toString("hex"),
    });
    assert.equal(signed.status, 204);
  });
});
