// RFC 8785 canonicalization: sorted keys by UTF-16 units, ECMAScript numbers, no whitespace.
import assert from "node:assert/strict";
import { test } from "node:test";
import { canonicalJson } from "../../../src/server/signature/canonical-json.js";

test("sorts keys by UTF-16 code units, recursively, and drops whitespace", () => {
  assert.equal(
    canonicalJson({ b: 1, a: [{ d: true, c: null }], "\u20ac": "x", "\ud83d\ude00": "y" }),
    '{"a":[{"c":null,"d":true}],"b":1,"\u20ac":"x","\ud83d\ude00":"y"}',
  );
});

test("numbers in ECMAScript form (RFC 8785 §3.2.2.3 examples)", () => {
  assert.equal(
    canonicalJson([1e21, 1e-7, 0.000001, -0, 333333333.3333333, 1.0, 4.5]),
    "[1e+21,1e-7,0.000001,0,333333333.3333333,1,4.5]",
  );
});

test("strings escape only what JSON requires", () => {
  assert.equal(canonicalJson('\u000f\n"\\/é'), '"\\u000f\\n\\"\\\\/é"');
});

test("refuses what JSON cannot carry", () => {
  assert.throws(() => canonicalJson(Number.NaN));
  assert.throws(() => canonicalJson(1n));
});
