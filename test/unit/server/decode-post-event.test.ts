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

describe("refusals name the field", () => {
  const base = JSON.parse(SPEC_EXAMPLES[0]?.body ?? "{}");
  const cases: [string, (b: Record<string, unknown>) => unknown, string][] = [
    ["no hostname", ({ hostname: _, ...b }) => b, "hostname"],
    ["hostname with a space", (b) => ({ ...b, hostname: "web 01" }), "hostname"],
    ["two @ in rolloutId", (b) => ({ ...b, rolloutId: "a@b@c" }), "rolloutId"],
    ["uppercase ref", (b) => ({ ...b, rolloutId: "stable@ABC" }), "rolloutId"],
    ["no event", ({ event: _, ...b }) => b, "event"],
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
    [
      "empty closure",
      (b) => ({ ...b, event: { ...(b["event"] as object), currentClosureAtDispatch: "" } }),
      "event.currentClosureAtDispatch",
    ],
    [
      "huge closure",
      (b) => ({
        ...b,
        event: { ...(b["event"] as object), currentClosureAtDispatch: "x".repeat(5000) },
      }),
      "event.currentClosureAtDispatch",
    ],
    ["odd hex signature", (b) => ({ ...b, signature: "abc" }), "signature"],
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
