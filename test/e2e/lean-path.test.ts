// The lean path against connect-node, the reference: the same requests (verdicts, every error,
// a sample of the hostile corpus) sent in the same order to a server with --lean-path on and
// one with it off must get byte-identical answers (status, headers, body, trailers) and count
// the same metrics; the lean server must have answered them itself.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import {
  type PostEventRequest,
  PostEventRequestSchema,
  PostEventsRequestSchema,
} from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { HOST, hostileCorpus, MAX_BYTES, ROLLOUT } from "../hostile/corpus.js";
import {
  codeOf,
  frame,
  type RawAnswer,
  type RawClient,
  type RawRequest,
  rawClient,
} from "../hostile/raw-client.js";
import { fillChannel } from "../interop/wire.js";
import {
  cleanup,
  type Identity,
  makeTestPki,
  openTestRollout,
  startTestServer,
  type TestPki,
  type TestServer,
} from "./harness.js";

const PATH = "/nixfleet.agent.v1.AgentEventsService/PostEvent";
const RPC = "nixfleet.agent.v1.AgentEventsService/PostEvent";

// Every content type the lean path serves, with the headers its usual clients send.
const VARIANTS = [
  { type: "application/proto", headers: { "connect-protocol-version": "1" } },
  { type: "application/json", headers: { "connect-protocol-version": "1" } },
  { type: "application/grpc", headers: { te: "trailers" } },
  { type: "application/grpc+proto", headers: { te: "trailers", "grpc-accept-encoding": "gzip" } },
  { type: "application/grpc-web", headers: { "x-grpc-web": "1" } },
  { type: "application/grpc-web+proto", headers: { "x-grpc-web": "1" } },
] as const;
type Variant = (typeof VARIANTS)[number];

const ts = { seconds: 1778894821n, nanos: 0 };
function dispatchAck(hostname: string, rolloutId: string, seq: number): PostEventRequest {
  return create(PostEventRequestSchema, {
    hostname,
    rolloutId,
    event: {
      seq: BigInt(seq),
      kind: { case: "dispatchAck", value: { currentClosureAtDispatch: "prev", receivedAt: ts } },
    },
  });
}

function encode(v: Variant, message: PostEventRequest): RawRequest {
  const body =
    v.type === "application/json"
      ? Buffer.from(toJsonString(PostEventRequestSchema, message))
      : toBinary(PostEventRequestSchema, message);
  return {
    path: PATH,
    headers: { "content-type": v.type, ...v.headers },
    body: v.type.startsWith("application/grpc") ? frame(body) : body,
  };
}

/** A PostEvents call of `events` (one host's), in `v`'s encoding. */
function encodeBatch(
  v: Variant,
  hostname: string,
  events: readonly PostEventRequest[],
): RawRequest {
  const message = create(PostEventsRequestSchema, {
    hostname,
    events: events.map((e) => ({ rolloutId: e.rolloutId, ...(e.event ? { event: e.event } : {}) })),
  });
  const body =
    v.type === "application/json"
      ? Buffer.from(toJsonString(PostEventsRequestSchema, message))
      : toBinary(PostEventsRequestSchema, message);
  return {
    path: "/nixfleet.agent.v1.AgentEventsService/PostEvents",
    headers: { "content-type": v.type, ...v.headers },
    body: v.type.startsWith("application/grpc") ? frame(body) : body,
  };
}

/** The parts of an answer both paths must agree on: all of it but the date. */
function wire(answer: RawAnswer): string {
  const sorted = (h: RawAnswer["headers"]) =>
    Object.fromEntries(
      Object.entries(h)
        .filter(([k]) => k !== "date")
        .sort(([a], [b]) => a.localeCompare(b)),
    );
  return JSON.stringify({
    status: answer.status,
    headers: sorted(answer.headers),
    trailers: sorted(answer.trailers),
    body: answer.body.toString("hex"),
  });
}

/** A server per path, each with its own PKI and database, and a client per identity. */
interface Side {
  readonly pki: TestPki;
  readonly server: TestServer;
  readonly clients: Map<string, RawClient>;
}

async function startSide(leanPath: "on" | "off", flags: readonly string[] = []): Promise<Side> {
  const pki = await makeTestPki();
  const server = await startTestServer(pki, [
    "--max-message-bytes",
    String(MAX_BYTES),
    ...flags,
    "--lean-path",
    leanPath,
  ]);
  return { pki, server, clients: new Map() };
}

function send(side: Side, who: (pki: TestPki) => Identity, key: string, r: RawRequest) {
  let c = side.clients.get(key);
  if (c === undefined) {
    c = rawClient(side.server.url, side.pki.ca, who(side.pki));
    side.clients.set(key, c);
  }
  return c.send(r);
}

async function stopSide(side: Side): Promise<void> {
  for (const c of side.clients.values()) c.close();
  await side.server.service.shutdown();
  cleanup(side.pki);
}

async function metric(side: Side, name: string): Promise<string> {
  const m = side.server.service.metrics.registry.getSingleMetric(name);
  if (m === undefined) return "";
  const { values } = await m.get();
  return JSON.stringify(
    values
      .filter((v) => v.labels.rpc === undefined || String(v.labels.rpc).startsWith(RPC))
      .map((v) => [v.labels, v.value])
      .sort(),
  );
}

describe("lean path and connect-node answer alike", () => {
  let lean: Side;
  let reference: Side;
  /** Sends `r` to both servers as `who`; returns the lean answer after comparing them. */
  const both = async (
    label: string,
    who: (pki: TestPki) => Identity,
    r: RawRequest,
    key = "agent",
  ): Promise<RawAnswer> => {
    const a = await send(lean, who, key, r);
    const b = await send(reference, who, key, r);
    assert.equal(wire(a), wire(b), label);
    return a;
  };
  const agent = (host: string) => (pki: TestPki) => pki.agent(host);

  before(async () => {
    [lean, reference] = await Promise.all([startSide("on"), startSide("off")]);
    for (const side of [lean, reference]) {
      await openTestRollout(side.server, ROLLOUT, [HOST]);
      for (const [i] of VARIANTS.entries()) {
        await openTestRollout(side.server, `lean@0${i}`, ["web-01", "h2"]);
      }
    }
  });
  after(async () => {
    await Promise.all([stopSide(lean), stopSide(reference)]);
  });

  for (const [i, v] of VARIANTS.entries()) {
    const rollout = `lean@0${i}`;
    test(`${v.type}: APPLIED, DUPLICATE and every error`, async () => {
      const web01 = agent("web-01");
      const cases: [string, (pki: TestPki) => Identity, RawRequest, string][] = [
        ["applied", web01, encode(v, dispatchAck("web-01", rollout, 1)), "ok"],
        ["duplicate", web01, encode(v, dispatchAck("web-01", rollout, 1)), "ok"],
        ["missing field", web01, encode(v, create(PostEventRequestSchema)), "invalid_argument"],
        [
          "not the certificate's host",
          web01,
          encode(v, dispatchAck("h2", rollout, 1)),
          "permission_denied",
        ],
        [
          "an operator",
          (pki) => pki.operator,
          encode(v, dispatchAck("web-01", rollout, 2)),
          "permission_denied",
        ],
        ["unknown rollout", web01, encode(v, dispatchAck("web-01", "nope@ff", 1)), "not_found"],
        [
          "illegal for the state",
          web01,
          encode(v, dispatchAck("web-01", rollout, 2)),
          "failed_precondition",
        ],
        [
          "too large",
          web01,
          { ...encode(v, dispatchAck("web-01", rollout, 3)), body: Buffer.alloc(MAX_BYTES + 64) },
          "resource_exhausted",
        ],
      ];
      // Over 1 KiB (each 'é' is six bytes in grpc-message): compressed where the client accepts.
      const long = encode(v, dispatchAck("web-01", `${"é".repeat(200)}@1`, 1));
      cases.push([
        "a long refusal, gzip accepted",
        web01,
        {
          ...long,
          headers: { ...long.headers, "accept-encoding": "gzip", "grpc-accept-encoding": "gzip" },
        },
        // codeOf cannot read a compressed gRPC-Web trailer; the comparison still covers it.
        v.type.startsWith("application/grpc-web") ? "" : "invalid_argument",
      ]);
      for (const [label, who, r, code] of cases) {
        const key = who === web01 ? "agent" : "operator";
        const answer = await both(`${v.type} ${label}`, who, r, key);
        if (code !== "") assert.equal(codeOf(answer), code, `${v.type} ${label}`);
      }
      if (v.type === "application/json") {
        const answer = await both("JSON naming the field", web01, {
          ...encode(v, dispatchAck("web-01", rollout, 3)),
          body: JSON.stringify({
            hostname: "web-01",
            rolloutId: rollout,
            event: { seq: "3", dispatchAck: { receivedAt: "2026-02-30T00:00:00Z" } },
          }),
        });
        assert.match(answer.body.toString(), /event\.dispatchAck\.receivedAt/);
      }
    });
  }

  for (const [i, v] of VARIANTS.entries()) {
    const rollout = `lean@0${i}`;
    test(`${v.type}: PostEvents verdicts in order and whole-call refusals`, async () => {
      const h2 = agent("h2");
      const batch = [1, 1, 2].map((seq) => dispatchAck("h2", rollout, seq));
      const cases: [string, (pki: TestPki) => Identity, RawRequest, string][] = [
        ["applied, duplicate, refused", h2, encodeBatch(v, "h2", batch), "ok"],
        ["the same again", h2, encodeBatch(v, "h2", batch), "ok"],
        ["another host", agent("web-01"), encodeBatch(v, "h2", batch), "permission_denied"],
        ["no events", h2, encodeBatch(v, "h2", []), "invalid_argument"],
      ];
      for (const [label, who, r, code] of cases) {
        const key = who === h2 ? "batch" : "agent";
        const answer = await both(`${v.type} PostEvents ${label}`, who, r, key);
        assert.equal(codeOf(answer), code, `${v.type} PostEvents ${label}`);
      }
    });
  }

  test("a sample of the hostile corpus", async () => {
    const cases = hostileCorpus().filter((c) => c.surface !== "binding");
    // Every 5th case keeps every surface and most kinds of hostility at a fifth of the time.
    for (const [i, c] of cases.entries()) {
      if (i % 5 !== 0) continue;
      await both(`${c.surface} ${c.name}`, agent(HOST), c.request, "hostile");
    }
  });

  test("what the lean path leaves to connect-node is answered alike too", async () => {
    const message = toBinary(PostEventRequestSchema, dispatchAck("web-01", "lean@00", 9));
    const before = await metric(lean, "nixfleet_cp_lean_path_requests_total");
    for (const [label, r] of [
      [
        "grpc-timeout",
        {
          path: PATH,
          headers: { "content-type": "application/grpc", "grpc-timeout": "5S" },
          body: frame(message),
        },
      ],
      [
        "JSON over gRPC",
        {
          path: PATH,
          headers: { "content-type": "application/grpc+json" },
          body: frame(Buffer.from("{}")),
        },
      ],
      [
        "a charset",
        { path: PATH, headers: { "content-type": "application/json; charset=utf-8" }, body: "{}" },
      ],
      [
        "another RPC",
        {
          path: "/nixfleet.agent.v1.AgentEventsService/Heartbeat",
          headers: { "content-type": "application/proto" },
          body: "",
        },
      ],
    ] as const) {
      await both(label, agent("web-01"), r);
    }
    assert.equal(await metric(lean, "nixfleet_cp_lean_path_requests_total"), before);
  });

  test("the lean server took the requests itself and both count the same metrics", async () => {
    const served = lean.server.service.metrics.registry.getSingleMetric(
      "nixfleet_cp_lean_path_requests_total",
    );
    const count = (await served?.get())?.values.find((v) => v.labels.rpc === RPC)?.value ?? 0;
    assert.ok(count >= VARIANTS.length * 8, `lean path answered ${count}`);
    assert.equal(
      reference.server.service.metrics.registry.getSingleMetric(
        "nixfleet_cp_lean_path_requests_total",
      ),
      undefined,
    );
    for (const name of ["nixfleet_cp_requests_total", "nixfleet_cp_events_total"]) {
      assert.equal(await metric(lean, name), await metric(reference, name), name);
    }
  });
});

describe("lean path and connect-node while draining", () => {
  test("unavailable with the retry hint on an open connection, alike on every protocol", async () => {
    const slow = ["--debug-reducer-delay-ms", "1500"];
    const sides = await Promise.all([startSide("on", slow), startSide("off", slow)]);
    try {
      const answers: string[][] = [];
      for (const side of sides) {
        await openTestRollout(side.server, "drain@03", ["h1", "h2"]);
        // Open the connection first: new connections are refused once draining.
        const warm = await send(
          side,
          (p) => p.agent("h2"),
          "h2",
          encode(VARIANTS[0], dispatchAck("h2", "nope@01", 1)),
        );
        assert.equal(codeOf(warm), "not_found");
        const accepted = send(
          side,
          (p) => p.agent("h1"),
          "h1",
          encode(VARIANTS[0], dispatchAck("h1", "drain@03", 1)),
        );
        await new Promise((r) => setTimeout(r, 100));
        const stopping = side.server.service.shutdown();
        const got: string[] = [];
        for (const v of VARIANTS) {
          const answer = await send(
            side,
            (p) => p.agent("h2"),
            "h2",
            encode(v, dispatchAck("h2", "drain@03", 1)),
          );
          assert.equal(codeOf(answer), "unavailable", v.type);
          got.push(wire(answer));
        }
        assert.equal(codeOf(await accepted), "ok");
        await stopping;
        answers.push(got);
      }
      assert.deepEqual(answers[0], answers[1]);
      assert.match(answers[0]?.[0] ?? "", /"retry-after":"1"/);
    } finally {
      await Promise.all(sides.map(stopSide));
    }
  });
});

describe("lean path and connect-node while shedding at the door", () => {
  test("resource_exhausted with retry-after and RetryInfo, alike on every protocol", async () => {
    const slow = [
      "--debug-reducer-delay-ms",
      "1500",
      "--channel-capacity",
      "2",
      "--batch-size",
      "1",
    ];
    const sides = await Promise.all([startSide("on", slow), startSide("off", slow)]);
    try {
      const answers: string[][] = [];
      for (const side of sides) {
        await openTestRollout(side.server, "shed@04", ["h1", "h2", "h3", "h4"]);
        // The reducer holds one event for its delay; the other two fill the channel.
        await fillChannel(side.server, side.pki, "shed@04", ["h2", "h3", "h4"], 2);
        const got: string[] = [];
        for (const v of VARIANTS) {
          const r = encode(v, dispatchAck("h1", "shed@04", 1));
          const answer = await send(side, (p) => p.agent("h1"), "h1", r);
          assert.equal(codeOf(answer), "resource_exhausted", v.type);
          got.push(wire(answer));
        }
        answers.push(got);
      }
      assert.deepEqual(answers[0], answers[1]);
      assert.match(answers[0]?.[0] ?? "", /"retry-after":"1"/);
      assert.match(answers[0]?.[2] ?? "", /grpc-status-details-bin/);
      for (const name of ["nixfleet_cp_requests_total", "nixfleet_cp_events_total"]) {
        const [lean, reference] = sides as [Side, Side];
        assert.equal(await metric(lean, name), await metric(reference, name), name);
      }
    } finally {
      await Promise.all(sides.map(stopSide));
    }
  });
});
