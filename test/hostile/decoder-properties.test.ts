// Properties over both decoders (issue 11 (d)), 10,000+ generated inputs per run: no input
// makes a decoder throw; what the strict wire check accepts protobuf-es reads; the binding and
// the proto contract agree on every generated event, refusing the same field.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { PostEventRequestSchema } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { ProbeMode, ProbeStatus } from "../../gen/nixfleet/agent/v1/events_pb.js";
import { checkBody } from "../../src/server/connect-gate.js";
import {
  decodePostEventJson,
  decodePostEventProto,
} from "../../src/server/convert/decode-post-event.js";
import { textProblem } from "../../src/server/convert/text-problem.js";
import { bodyFormat } from "../../src/server/wire/request-body.js";

const MAX = 65_536;
const BINARY = bodyFormat("application/proto")!;
const GRPC = bodyFormat("application/grpc")!;
const JSON_FORMAT = bodyFormat("application/json")!;

const VALID = toBinary(
  PostEventRequestSchema,
  create(PostEventRequestSchema, {
    hostname: "h1",
    rolloutId: "hostile@0e",
    event: {
      seq: 3n,
      kind: {
        case: "probeResult",
        value: {
          probeName: "p",
          mode: ProbeMode.ENFORCE,
          status: ProbeStatus.FAIL,
          observedAt: { seconds: 1_778_894_821n, nanos: 5 },
          failureReason: "r",
          subResults: [{ controlId: "c", status: ProbeStatus.FAIL, framework: "f" }],
        },
      },
    },
  }),
);

/** Byte arrays: random ones and the valid message with bytes flipped, cut, inserted. */
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 160 }),
  fc
    .array(
      fc.tuple(
        fc.nat(VALID.length - 1),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom("set", "cut", "insert"),
      ),
      { minLength: 1, maxLength: 4 },
    )
    .map((edits) => {
      let b = [...VALID];
      for (const [at, value, op] of edits) {
        const i = at % Math.max(1, b.length);
        if (op === "set") b[i] = value;
        else if (op === "cut") b = b.slice(0, i);
        else b.splice(i, 0, value);
      }
      return Uint8Array.from(b);
    }),
);

function decodeAccepted(body: Uint8Array): void {
  const result = checkBody(PostEventRequestSchema, BINARY, undefined, body, MAX);
  if ("code" in result) {
    assert.ok(["invalid_argument", "payload_too_large"].includes(result.code), result.code);
    assert.ok(result.message.length > 0);
    return;
  }
  // Accepted framing: protobuf-es reads it, and the domain decoder answers without throwing.
  const message = fromBinary(PostEventRequestSchema, result.body);
  const decoded = decodePostEventProto(message);
  if (!decoded.ok) assert.ok(decoded.error.field.length > 0);
  else
    assert.ok(decoded.value.event.seq >= 1 && decoded.value.event.seq <= Number.MAX_SAFE_INTEGER);
}

/** "accepted", or the field a decoder refused (as a decode error or a recorded refusal). */
function verdict(
  result:
    | { ok: false; error: { field: string } }
    | { ok: true; value: { refusal?: { field: string | null } } },
): string {
  if (!result.ok) return result.error.field;
  return result.value.refusal === undefined ? "accepted" : (result.value.refusal.field ?? "?");
}

describe("decoder properties", () => {
  test("binary: no input throws; what the strict check accepts protobuf-es reads (4,000)", () => {
    fc.assert(fc.property(bytes, decodeAccepted), { numRuns: 4000 });
  });

  test("gRPC framing: no body throws; refusals are 4xx codes (2,000)", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          bytes.map((b) => Uint8Array.from([0, 0, 0, 0, b.length & 0xff, ...b])),
        ),
        fc.constantFrom(undefined, "gzip", "br"),
        (body, encoding) => {
          const result = checkBody(PostEventRequestSchema, GRPC, encoding, body, MAX);
          if ("code" in result)
            assert.ok(["invalid_argument", "payload_too_large"].includes(result.code));
          else fromBinary(PostEventRequestSchema, result.body.subarray(5));
        },
      ),
      { numRuns: 2000 },
    );
  });

  test("Connect JSON and the binding: any JSON value is decoded or refused, never thrown (3,000)", () => {
    const enc = new TextEncoder();
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        const text = JSON.stringify(value) ?? "null";
        const result = checkBody(
          PostEventRequestSchema,
          JSON_FORMAT,
          undefined,
          enc.encode(text),
          MAX,
        );
        if ("code" in result) assert.equal(result.code, "invalid_argument");
        const binding = decodePostEventJson(value);
        if (!binding.ok) assert.ok(binding.error.field.length > 0);
      }),
      { numRuns: 3000 },
    );
  });

  test("the binding takes all the proto takes, the same way, and refuses only what it refuses (2,000)", () => {
    const text = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.string({ unit: "binary", maxLength: 12 }),
      fc.constantFrom("", "\u0000", "a\ud800", "\udc00b", "😀", "x".repeat(300)),
    );
    fc.assert(
      fc.property(
        text,
        text,
        text,
        fc.integer({ min: -3, max: 2 ** 53 + 2 }),
        (probeName, reason, controlId, seq) => {
          const observedAt = "2026-05-16T01:27:20.5Z";
          const binding = decodePostEventJson({
            hostname: "h1",
            rolloutId: "hostile@0e",
            event: {
              kind: "ProbeResult",
              probeName,
              mode: "enforce",
              status: "fail",
              observedAt,
              failureReason: reason,
              subResults: [{ controlId, status: "fail", framework: "f" }],
              seq,
            },
          });
          const proto = decodePostEventProto(
            create(PostEventRequestSchema, {
              hostname: "h1",
              rolloutId: "hostile@0e",
              event: {
                seq: BigInt(Math.max(0, seq)),
                kind: {
                  case: "probeResult",
                  value: {
                    probeName,
                    mode: ProbeMode.ENFORCE,
                    status: ProbeStatus.FAIL,
                    observedAt: { seconds: 1_778_894_840n, nanos: 500_000_000 },
                    failureReason: reason,
                    subResults: [{ controlId, status: ProbeStatus.FAIL, framework: "f" }],
                  },
                },
              },
            }),
          );
          // proto3 reads "" as unset; the binding keeps an empty optional reason.
          if (reason === "" || probeName === "" || controlId === "" || seq < 1) return;
          const b = verdict(binding);
          const p = verdict(proto);
          const context = JSON.stringify({ binding, proto });
          // The binding is as lenient as the original (SPEC §10), the proto contract strict:
          // what the proto takes, the binding takes to the same domain value...
          if (p === "accepted") {
            assert.equal(b, "accepted", context);
            if (binding.ok && proto.ok) {
              const { rawEvent: _, ...value } = binding.value;
              assert.deepEqual(value, proto.value);
            }
          }
          // ...what the binding refuses (a decode error or a recorded refusal), the proto
          // refuses too (which field each names first when several are bad may differ; the
          // corpus and the edge-rule tests check the naming field by field)...
          if (b !== "accepted") assert.notEqual(p, "accepted", context);
          // ...and nothing either takes carries text no store keeps.
          if (b === "accepted") {
            for (const s of [probeName, reason, controlId]) assert.equal(textProblem(s), undefined);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
