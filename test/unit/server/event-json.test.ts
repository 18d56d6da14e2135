// Issue 11 fix 9: the event log's binding-shape JSON keeps every agent string as sent; only
// the kind's own timestamp fields are formatted (a probe named like an instant is a name).
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { RemoteEvent } from "../../../src/core/event.js";
import { type Instant, parseInstant } from "../../../src/core/instant.js";
import { eventToBindingJson } from "../../../src/server/convert/event-json.js";

const at = parseInstant("2026-05-16T01:27:20Z") as Instant;

// Strings that look like the log's own instants, and any well-formed text without NUL.
const text = fc.oneof(
  fc
    .date({
      min: new Date("0001-01-01T00:00:00Z"),
      max: new Date("9999-12-31T23:59:59Z"),
      noInvalidDate: true,
    })
    .map((d) => `${d.toISOString().slice(0, 19)}.${"0".repeat(9)}Z`),
  fc.constant("2026-05-16T01:27:01.000000000Z"),
  fc.string({ unit: "grapheme", minLength: 1 }).filter((s) => !s.includes("\u0000")),
);

test("any probe name, closure or reason round-trips unchanged; timestamps are formatted", () => {
  fc.assert(
    fc.property(text, text, text, (probeName, reason, closure) => {
      const probe = eventToBindingJson({
        kind: "ProbeResult",
        seq: 7,
        probeName,
        mode: "enforce",
        status: "fail",
        observedAt: at,
        failureReason: reason,
        subResults: [{ controlId: probeName, status: "fail", framework: reason }],
      } as RemoteEvent);
      assert.equal(probe["probeName"], probeName);
      assert.equal(probe["failureReason"], reason);
      assert.deepEqual(probe["subResults"], [
        { controlId: probeName, status: "fail", framework: reason },
      ]);
      assert.equal(probe["observedAt"], "2026-05-16T01:27:20Z");
      const converged = eventToBindingJson({
        kind: "Converged",
        seq: 8,
        convergedAt: at,
        currentClosure: closure,
      } as RemoteEvent);
      assert.equal(converged["currentClosure"], closure);
      assert.equal(converged["convergedAt"], "2026-05-16T01:27:20Z");
    }),
    { numRuns: 10_000 },
  );
});
