// Issue 11's defects, each reproduced against the real server over mTLS: decode failures are
// invalid_argument (5), framing is strict (6), one timestamp rule for both encodings (7), text
// is well-formed without NUL (1, 8), the log keeps instant-looking strings (9), operator
// bodies are never read for an agent (10), and the probe map is capped (4).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { PostEventRequestSchema } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { listEvents } from "../../src/storage/list-events.js";
import {
  codeOf,
  frame,
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
  startTestServer,
  type TestPki,
  type TestServer,
} from "./harness.js";

const ROLLOUT = "stable@0f";
const POST = "/nixfleet.agent.v1.AgentEventsService/PostEvent";
const OPEN = "/nixfleet.ops.v1.RolloutService/OpenRollout";

// Minimal protobuf writing, so tests can send what no encoder would.
function varint(n: bigint): number[] {
  const out: number[] = [];
  let v = n;
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}
const tag = (no: number, wt: number) => varint(BigInt((no << 3) | wt));
const ld = (no: number, bytes: number[] | Uint8Array) => [
  ...tag(no, 2),
  ...varint(BigInt(bytes.length)),
  ...bytes,
];
const str = (no: number, s: string) => ld(no, [...Buffer.from(s)]);
/** A DispatchAck PostEventRequest for h1 whose seq is encoded as the raw varint bytes given. */
function withRawSeq(seqBytes: number[]): Uint8Array {
  const ack = [...str(1, "prev"), ...ld(2, [...tag(1, 0), ...varint(1_778_894_821n)])];
  const event = [...tag(1, 0), ...seqBytes, ...ld(2, ack)];
  return Uint8Array.from([...str(1, "h1"), ...str(2, ROLLOUT), ...ld(3, event)]);
}

describe("hostile input regressions (issue 11)", () => {
  let pki: TestPki;
  let server: TestServer;
  let agent: RawClient;
  let operator: RawClient;

  before(async () => {
    pki = await makeTestPki();
    server = await startTestServer(pki, ["--max-probes-per-record", "2"]);
    await openTestRollout(server, ROLLOUT, ["h1", "h2"]);
    agent = rawClient(server.url, pki.ca, pki.agent("h1"));
    operator = rawClient(server.url, pki.ca, pki.operator);
  });
  after(async () => {
    agent.close();
    operator.close();
    await server.service.shutdown();
    cleanup(pki);
  });

  const events = () => listEvents(server.service.database.db, { rolloutId: ROLLOUT, limit: 1000 });

  test("5: truncated or malformed protobuf is invalid_argument on every protocol, never 5xx", async () => {
    const good = toBinary(
      PostEventRequestSchema,
      create(PostEventRequestSchema, { hostname: "h1", rolloutId: ROLLOUT }),
    );
    const bad = [
      good.subarray(0, good.length - 2),
      Uint8Array.from([0x0a, 0x05, 0xff, 0xfe, 0xfd, 0xfc, 0xfb]), // invalid UTF-8 hostname
      Uint8Array.from([0x0b, 0x0b, 0x0b]), // groups without end
      Uint8Array.from([0x1a, 0x80]), // truncated length
    ];
    for (const body of bad) {
      for (const [protocol, headers] of Object.entries(PROTOCOL_HEADERS)) {
        if (protocol === "connect-json") continue;
        const answer = await agent.send({
          path: POST,
          headers,
          body: protocol.startsWith("grpc") ? frame(body) : body,
        });
        assert.equal(codeOf(answer), "invalid_argument", `${protocol}: ${messageOf(answer)}`);
        assert.ok(answer.status < 500, `${protocol} answered ${answer.status}`);
      }
    }
    assert.equal((await events()).length, 0);
  });

  test("6: an 11-byte varint, a 10-byte varint above 64 bits, reserved frame flags", async () => {
    const eleven = [0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
    const above64 = [0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02];
    for (const seq of [eleven, above64]) {
      for (const [protocol, headers] of Object.entries(PROTOCOL_HEADERS)) {
        if (protocol === "connect-json") continue;
        const body = withRawSeq(seq);
        const answer = await agent.send({
          path: POST,
          headers,
          body: protocol.startsWith("grpc") ? frame(body) : body,
        });
        assert.equal(codeOf(answer), "invalid_argument", protocol);
        assert.match(messageOf(answer), /event\.seq.*varint exceeds 64 bits/);
      }
    }
    // A sane seq in the same hand-made encoding applies: the check is not the message.
    for (const flags of [0x02, 0x04, 0x80, 0xfe]) {
      for (const protocol of ["grpc", "grpc-web"] as const) {
        const answer = await agent.send({
          path: POST,
          headers: PROTOCOL_HEADERS[protocol],
          body: frame(withRawSeq([0x01]), flags),
        });
        assert.equal(codeOf(answer), "invalid_argument", `${protocol} flags ${flags}`);
        assert.match(messageOf(answer), /reserved bits/);
      }
    }
    assert.equal((await events()).length, 0);
    const ok = await agent.send({
      path: POST,
      headers: PROTOCOL_HEADERS.grpc,
      body: frame(withRawSeq([0x01])),
    });
    assert.equal(codeOf(ok), "ok", messageOf(ok));
    assert.equal((await events()).length, 1);
  });

  test("7: Connect JSON refuses the dates the binding refuses, naming the field; enums too", async () => {
    const json = (receivedAt: string, extra: Record<string, unknown> = {}) =>
      JSON.stringify({
        hostname: "h2",
        rolloutId: ROLLOUT,
        event: {
          seq: "1",
          dispatchAck: { currentClosureAtDispatch: "prev", receivedAt },
          ...extra,
        },
      });
    for (const date of [
      "2026-02-30T00:00:00Z",
      "2025-02-29T00:00:00Z",
      "2026-05-16T24:00:00Z",
      "2026-13-01T00:00:00Z",
    ]) {
      const answer = await agent.send({
        path: POST,
        headers: PROTOCOL_HEADERS["connect-json"],
        body: json(date),
      });
      assert.equal(codeOf(answer), "invalid_argument", date);
      assert.match(messageOf(answer), /^event\.dispatchAck\.receivedAt: is not a valid RFC 3339/);
      const binding = await postBinding(server.url, pki.ca, pki.agent("h2"), {
        hostname: "h2",
        rolloutId: ROLLOUT,
        event: { kind: "DispatchAck", currentClosureAtDispatch: "prev", receivedAt: date, seq: 1 },
      });
      assert.ok(binding.status >= 400 || /invalid_argument/.test(binding.body), date);
      assert.match(binding.body, /event\.receivedAt/);
    }
    const enumAnswer = await agent.send({
      path: POST,
      headers: PROTOCOL_HEADERS["connect-json"],
      body: JSON.stringify({
        hostname: "h2",
        rolloutId: ROLLOUT,
        event: { seq: "1", probeResult: { probeName: "p", mode: "PROBE_MODE_BOGUS" } },
      }),
    });
    assert.equal(codeOf(enumAnswer), "invalid_argument");
    assert.match(messageOf(enumAnswer), /^event\.probeResult\.mode: must be one of/);
  });

  test("1 and 8: NUL and lone surrogates are refused naming the field on every encoding", async () => {
    const connect = await agent.send({
      path: POST,
      headers: PROTOCOL_HEADERS["connect-json"],
      body: JSON.stringify({
        hostname: "h1",
        rolloutId: ROLLOUT,
        event: {
          seq: "2",
          activationStarted: { startedAt: "2026-05-16T01:27:03Z", switchMethod: "a\u0000b" },
        },
      }),
    });
    assert.equal(codeOf(connect), "invalid_argument");
    assert.match(messageOf(connect), /switchMethod: contains a NUL character/);
    const binding = await postBinding(
      server.url,
      pki.ca,
      pki.agent("h1"),
      `{"hostname":"h1","rolloutId":"${ROLLOUT}","event":{"kind":"ActivationStarted","startedAt":"2026-05-16T01:27:03Z","switchMethod":"prev\\ud800","seq":2}}`,
    );
    // The binding records it as refused and answers 2xx, so the agent's queue moves on (SPEC §10).
    assert.equal(binding.status, 202);
    assert.match(binding.body, /invalid_argument/);
    assert.match(binding.body, /event\.switchMethod/);
    assert.match(binding.body, /lone UTF-16 surrogate/);
    assert.equal((await events()).length, 1);
  });

  test("10: an agent's body for an operator RPC is never read: 403, not a schema error", async () => {
    for (const [protocol, headers] of Object.entries(PROTOCOL_HEADERS)) {
      const garbage = protocol === "connect-json" ? "{not json" : Uint8Array.from([0xff, 0xff]);
      const answer = await agent.send({
        path: OPEN,
        headers,
        body: protocol.startsWith("grpc") ? frame(Buffer.from(garbage)) : garbage,
      });
      assert.equal(codeOf(answer), "permission_denied", protocol);
      assert.doesNotMatch(messageOf(answer), /JSON|parse|field/i);
    }
  });

  test("4: a record's probe map stops at --max-probes-per-record with failed_precondition", async () => {
    const post = (event: Record<string, unknown>) =>
      postBinding(server.url, pki.ca, pki.agent("h1"), {
        hostname: "h1",
        rolloutId: ROLLOUT,
        event,
      });
    assert.equal(
      (
        await post({
          kind: "ActivationCompleted",
          observedCurrentClosure: "def456-nixos-system-h1",
          exitCode: 0,
          completedAt: "2026-05-16T01:27:05Z",
          seq: 2,
        })
      ).status,
      204,
    );
    const probe = (probeName: string, seq: number) =>
      post({
        kind: "ProbeResult",
        probeName,
        mode: "enforce",
        status: "pass",
        observedAt: "2026-05-16T01:27:20Z",
        seq,
      });
    // 9: a probe named like an instant is a name, and comes back as sent.
    const instantName = "2026-05-16T01:27:01.000000000Z";
    assert.equal((await probe(instantName, 3)).status, 204);
    assert.equal((await probe("b", 4)).status, 204);
    const third = await probe("c", 5);
    assert.match(third.body, /failed_precondition/);
    assert.match(third.body, /cap of 2 distinct probes/);
    assert.equal((await probe("b", 5)).status, 204);
    const log = await events();
    const names = log
      .filter((e) => e.event.kind === "ProbeResult")
      .map((e) => (e.event as { probeName: string }).probeName);
    assert.deepEqual(names, [instantName, "b", "b"]);
    const list = await operator.send({
      path: "/nixfleet.ops.v1.RolloutService/ListEvents",
      headers: PROTOCOL_HEADERS["connect-json"],
      body: JSON.stringify({ rolloutId: ROLLOUT }),
    });
    assert.equal(codeOf(list), "ok");
    assert.ok(
      list.body.toString("utf8").includes(`"probeName":"${instantName}"`),
      list.body.toString(),
    );
  });
});
