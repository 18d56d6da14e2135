// Issue 11 fixes 1 and 8: every string entering the domain, from either encoding and in every
// field, is well-formed Unicode without NUL; a refusal names the field.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { PostEventRequestSchema } from "../../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import {
  decodePostEventJson,
  decodePostEventProto,
} from "../../../src/server/convert/decode-post-event.js";
import { textProblem } from "../../../src/server/convert/text-problem.js";
import { bindingToProtoJson } from "../../fixtures/proto-json.js";
import { SPEC_EXAMPLES } from "../../fixtures/spec-examples.js";

const ENUM_KEYS = new Set([
  "kind",
  "mode",
  "status",
  "effectiveMode",
  "policyApplied",
  "component",
]);

/** Paths (as arrays) of every free-text string in a binding body. */
function textPaths(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => textPaths(v, [...path, i]));
  if (value !== null && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => textPaths(v, [...path, k]));
  }
  const key = path[path.length - 1];
  if (typeof value !== "string" || typeof key !== "string") {
    return typeof value === "string" ? [path] : [];
  }
  if (ENUM_KEYS.has(key) || /At$/.test(key)) return [];
  return [path];
}

function setAt(body: unknown, path: (string | number)[], value: unknown): void {
  let node = body as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) node = node[p] as Record<string | number, unknown>;
  node[path[path.length - 1] as string | number] = value;
}

/** The binding path of a value as decode errors spell it: event.x, probes[0].probeName. */
function bindingField(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

function toProto(body: Record<string, unknown>) {
  const { kind, seq, ...fields } = body["event"] as Record<string, unknown>;
  const caseName = (kind as string).charAt(0).toLowerCase() + (kind as string).slice(1);
  return fromJson(PostEventRequestSchema, {
    hostname: body["hostname"],
    rolloutId: body["rolloutId"],
    event: { seq: String(seq), [caseName]: bindingToProtoJson(fields) },
  } as JsonObject);
}

/** The field a decoder refused: as a decode error, or as a recorded refusal of a decoded event. */
function refusedField(
  result:
    | { ok: false; error: { field: string } }
    | { ok: true; value: { refusal?: { field: string | null } } },
): string | null | undefined {
  return result.ok ? result.value.refusal?.field : result.error.field;
}

function replaceString<T>(value: T, from: string, to: string): T {
  const walk = (v: unknown): unknown => {
    if (v === from) return to;
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        v[i] = walk(x);
      });
    } else if (v !== null && typeof v === "object" && !(v instanceof Uint8Array)) {
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) o[k] = walk(o[k]);
    }
    return v;
  };
  return walk(value) as T;
}

describe("textProblem", () => {
  test("lone surrogates and NUL are refused, pairs and other controls are not", () => {
    assert.match(textProblem("prev\ud800") ?? "", /lone surrogate U\+D800 at index 4/);
    assert.match(textProblem("\udc00") ?? "", /lone surrogate/);
    assert.match(textProblem("a\u0000b") ?? "", /NUL .* index 1/);
    assert.equal(textProblem("emoji 😀 \u0001 \t é"), undefined);
  });
});

for (const [bad, what] of [
  ["\u0000", "NUL"],
  ["\ud800", "a lone high surrogate"],
  ["x\udfff", "a lone low surrogate"],
] as const) {
  describe(`${what} in any text field of any kind is refused naming the field`, () => {
    for (const example of SPEC_EXAMPLES) {
      const body = JSON.parse(example.body) as Record<string, unknown>;
      for (const path of textPaths(body)) {
        const field = bindingField(path);
        test(`${example.kind}: ${field}`, () => {
          const mutated = structuredClone(body);
          setAt(mutated, path, `closure-${bad}-x`);
          // The binding takes what the original took (SPEC §10): unsafe text there is a
          // recorded refusal naming the field; the strict proto decoder may refuse it outright.
          assert.equal(refusedField(decodePostEventJson(mutated)), field, "binding accepted it");
          if (path[0] === "signature") return;
          // protobuf-es's own JSON reader refuses lone surrogates, a binary one cannot carry
          // them; a message built in code can, so the edge rule must hold for it too.
          const placeholder = structuredClone(body);
          setAt(placeholder, path, "PLACEHOLDER");
          const message = replaceString(toProto(placeholder), "PLACEHOLDER", `closure-${bad}-x`);
          const proto = refusedField(decodePostEventProto(message));
          const caseName = example.kind.charAt(0).toLowerCase() + example.kind.slice(1);
          assert.ok(
            proto === field || proto === field.replace(/^event\./, `event.${caseName}.`),
            `proto refused ${String(proto)}, not ${field}`,
          );
        });
      }
    }
  });
}
