// Issue 11 fix 2: store failures are classified (outage, data, other) and mapped to answers
// that carry no internal detail.
import assert from "node:assert/strict";
import { test } from "node:test";
import { fromThrown, toHttpError } from "../../../src/server/service-error.js";
import { classifyStoreError } from "../../../src/storage/store-error.js";

const err = (props: Record<string, unknown>, message = "boom") =>
  Object.assign(new Error(message), props);

test("classification", () => {
  assert.equal(classifyStoreError(err({ code: "ECONNREFUSED" })), "outage");
  assert.equal(classifyStoreError(err({ code: "57P01" })), "outage");
  assert.equal(classifyStoreError(err({ code: "08006" })), "outage");
  assert.equal(classifyStoreError(err({ code: "SQLITE_FULL" })), "outage");
  assert.equal(classifyStoreError(err({ code: "SQLITE_IOERR_WRITE" })), "outage");
  assert.equal(classifyStoreError(err({}, "Connection terminated unexpectedly")), "outage");
  assert.equal(
    classifyStoreError(new AggregateError([err({ code: "ECONNREFUSED" })], "")),
    "outage",
  );
  assert.equal(classifyStoreError(err({ code: "22021" })), "data");
  assert.equal(classifyStoreError(err({ code: "23514" })), "data");
  assert.equal(classifyStoreError(err({ code: "SQLITE_CONSTRAINT_TRIGGER" })), "data");
  assert.equal(classifyStoreError(err({ code: "42P01" })), "other");
  assert.equal(classifyStoreError(new TypeError("x is undefined")), "other");
});

test("an outage answers 503 + Retry-After and never the address", () => {
  const outage = err({ code: "ECONNREFUSED" }, "connect ECONNREFUSED 127.0.0.1:5433");
  const { status, headers, body } = toHttpError(fromThrown(outage, 2));
  assert.equal(status, 503);
  assert.equal(headers["retry-after"], "2");
  assert.doesNotMatch(body, /127\.0\.0\.1|5433|ECONNREFUSED/);
  const bug = toHttpError(fromThrown(new Error("select * from secret_table"), 1));
  assert.equal(bug.status, 500);
  assert.doesNotMatch(bug.body, /secret_table/);
});
