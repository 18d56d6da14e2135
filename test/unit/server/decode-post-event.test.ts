// The edge decoders: both encodings of every SPEC example give the same domain event, and
// bad input is refused naming the field.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create, fromJson, type JsonObject } from "@bufbuild/protobuf";
import { PostEventRequestSchema } from "../../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import {
  decodePostEventJson,
  decodePostEventProto,
} from "../../../src/server/convert/decode-post-event.js";
import { bindingToProtoJson } from "../../fixtures/proto-json.js";
import { SPEC_EXAMPLES } from "../../fixtures/spec-examples.js";

describe("both encodings decode to the same domain event", () => {
  for (const example of SPEC_EXAMPLES) {
    test(example.kind, () => {
      const body = JSON.parse(example.body);
      const fromBinding = decodePostEventJson(body);
      assert.ok(fromBinding.ok, JSON.stringify(fromBinding));
      const { kind, seq, ...fields } = body.event;
      const caseName = kind.charAt(0).toLowerCase() + kind.slice(1);
      const message = fromJson(PostEventRequestSchema, {
        hostname: body.hostname,
        rolloutId: body.rolloutId,
        event: { seq: String(seq), [caseName]: bindingToProtoJson(fields) },
      } as JsonObject);
      const fromProto = decodePostEventProto(message);
      assert.ok(fromProto.ok, JSON.stringify(fromProto));
      // The binding also keeps the raw event object (what a signature covers).
      const { rawEvent, ...bindingValue } = fromBinding.value;
      assert.deepEqual(rawEvent, body.event);
      assert.deepEqual(fromProto.value, bindingValue);
      assert.equal(fromBinding.value.event.kind, kind);
      assert.equal(fromBinding.value.event.seq, seq);
    });
  }
});

type Mutation = (b: Record<string, unknown>) => unknown;
const withEvent =
  (fields: Record<string, unknown>): Mutation =>
  (b) => ({ ...b, event: { ...(b["event"] as object), ...fields } });
const DEFERRED = JSON.parse(
  SPEC_EXAMPLES.find((e) => e.kind === "ActivationDeferred")?.body ?? "{}",
);
const STARTED = JSON.parse(SPEC_EXAMPLES.find((e) => e.kind === "ActivationStarted")?.body ?? "{}");
const COMPLETED = JSON.parse(
  SPEC_EXAMPLES.find((e) => e.kind === "ActivationCompleted")?.body ?? "{}",
);

describe("the binding takes what the original CP took", () => {
  const base = JSON.parse(SPEC_EXAMPLES[0]?.body ?? "{}");
  const cases: [string, unknown][] = [
    [
      "a hostname with a space (then 403 unless it is the certificate's)",
      { ...base, hostname: "web 01" },
    ],
    ["two @ in rolloutId (then not_found)", { ...base, rolloutId: "a@b@c" }],
    ["an uppercase ref (then not_found)", { ...base, rolloutId: "stable@ABC" }],
    ["an empty closure", withEvent({ currentClosureAtDispatch: "" })(structuredClone(base))],
    [
      "a 5000-character switchMethod (only the log keeps it)",
      withEvent({ switchMethod: "x".repeat(5000) })(STARTED),
    ],
    ["seq 0 (never above a record's seq: a duplicate)", withEvent({ seq: 0 })(base)],
    ["any component", withEvent({ component: "firmware" })(DEFERRED)],
    ["an exit code beyond int32", withEvent({ exitCode: 2 ** 40 })(COMPLETED)],
    ["a negative exit code", withEvent({ exitCode: -9 })(COMPLETED)],
  ];
  for (const [name, body] of cases) {
    test(name, () => {
      const result = decodePostEventJson(body);
      assert.ok(result.ok, JSON.stringify(result));
      assert.equal(result.value.refusal, undefined);
    });
  }
});

describe("the binding refuses (and the pipeline records) what no store keeps faithfully", () => {
  const base = JSON.parse(SPEC_EXAMPLES[0]?.body ?? "{}");
  const cases: [string, unknown, string, string][] = [
    ["odd hex signature", { ...base, signature: "abc" }, "signature", "signature"],
    [
      "a NUL in a closure",
      withEvent({ currentClosureAtDispatch: "a\u0000b" })(base),
      "event.currentClosureAtDispatch",
      "unsafe_input",
    ],
    [
      "a lone surrogate in the rollout id",
      { ...base, rolloutId: "stable@\ud800" },
      "rolloutId",
      "unsafe_input",
    ],
    ["a seq beyond 2^53-1", withEvent({ seq: 2 ** 60 })(base), "event.seq", "unsafe_input"],
    [
      "a 5000-character closure (the host's record would keep it)",
      withEvent({ currentClosureAtDispatch: "x".repeat(5000) })(base),
      "event.currentClosureAtDispatch",
      "unsafe_input",
    ],
  ];
  for (const [name, body, field, reason] of cases) {
    test(name, () => {
      // Through JSON text, as the binding receives it (escapes become the characters).
      const result = decodePostEventJson(
        JSON.parse(JSON.stringify(body).replaceAll("\\\\u", "\\u")),
      );
      assert.ok(result.ok, JSON.stringify(result));
      assert.equal(result.value.refusal?.field, field);
      assert.equal(result.value.refusal?.reason, reason);
    });
  }

  test("proto: a NUL is refused the same way, naming the field", () => {
    const result = decodePostEventProto(
      create(PostEventRequestSchema, {
        hostname: "h",
        rolloutId: "a@01",
        event: {
          seq: 1n,
          kind: {
            case: "probeObservedFirst",
            value: { probeName: "p\u0000", mode: 1, observedAt: { seconds: 1n } },
          },
        },
      }),
    );
    assert.ok(result.ok);
    assert.equal(result.value.refusal?.field, "event.probeName");
  });
});

describe("errors (400) are what the original rejected too, naming the field", () => {
  const base = JSON.parse(SPEC_EXAMPLES[0]?.body ?? "{}");
  const cases: [string, Mutation, string][] = [
    ["no hostname", ({ hostname: _, ...b }) => b, "hostname"],
    ["hostname a number", (b) => ({ ...b, hostname: 7 }), "hostname"],
    ["no event", ({ event: _, ...b }) => b, "event"],
    ["unknown kind", withEvent({ kind: "Exploded" }), "event.kind"],
    [
      "unknown probe mode",
      () => withEvent({ mode: "loud" })(JSON.parse(SPEC_EXAMPLES[6]?.body ?? "{}")),
      "event.mode",
    ],
    ["fractional exit code", () => withEvent({ exitCode: 1.5 })(COMPLETED), "event.exitCode"],
    ["negative seq", (b) => ({ ...b, event: { ...(b["event"] as object), seq: -1 } }), "event.seq"],
    [
      "seq as a string",
      (b) => ({ ...b, event: { ...(b["event"] as object), seq: "1" } }),
      "event.seq",
    ],
    [
      "timestamp without zone",
      (b) => ({ ...b, event: { ...(b["event"] as object), receivedAt: "2026-05-16T01:27:01" } }),
      "event.receivedAt",
    ],
    [
      "Feb 30",
      (b) => ({ ...b, event: { ...(b["event"] as object), receivedAt: "2026-02-30T00:00:00Z" } }),
      "event.receivedAt",
    ],
    ["signature a number", (b) => ({ ...b, signature: 12 }), "signature"],
  ];
  for (const [name, mutate, field] of cases) {
    test(name, () => {
      const result = decodePostEventJson(mutate(structuredClone(base)));
      assert.equal(result.ok, false);
      if (!result.ok) assert.equal(result.error.field, field);
    });
  }

  test("proto: no kind set, and an UNSPECIFIED enum", () => {
    const noKind = decodePostEventProto(
      create(PostEventRequestSchema, { hostname: "h", rolloutId: "a@01", event: { seq: 1n } }),
    );
    assert.ok(!noKind.ok && noKind.error.field === "event.kind");
    const unspecified = decodePostEventProto(
      create(PostEventRequestSchema, {
        hostname: "h",
        rolloutId: "a@01",
        event: {
          seq: 1n,
          kind: {
            case: "probeObservedFirst",
            value: { probeName: "p", mode: 0, observedAt: { seconds: 1n } },
          },
        },
      }),
    );
    assert.ok(!unspecified.ok && unspecified.error.field === "event.probeObservedFirst.mode");
    const bigSeq = decodePostEventProto(
      create(PostEventRequestSchema, {
        hostname: "h",
        rolloutId: "a@01",
        event: { seq: 2n ** 53n },
      }),
    );
    assert.ok(!bigSeq.ok && bigSeq.error.field === "event.seq");
  });
});
