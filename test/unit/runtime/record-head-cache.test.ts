// The committed-head cache: never moves a seq backwards, and starts over when full.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createRecordHeadCache } from "../../../src/runtime/record-head-cache.js";

test("keeps the highest committed seq per record", () => {
  const cache = createRecordHeadCache(10);
  cache.set("r@01", "h1", { state: "Soaking", lastEventSeq: 3, missingSeqCount: 0 });
  cache.set("r@01", "h1", { state: "Activating", lastEventSeq: 2, missingSeqCount: 0 });
  assert.deepEqual(cache.get("r@01", "h1"), {
    state: "Soaking",
    lastEventSeq: 3,
    missingSeqCount: 0,
  });
  assert.equal(cache.get("r@01", "h2"), undefined);
  assert.equal(cache.get("r@0", "1\u0000h1"), undefined);
});

test("starts over when full, so memory stays bounded", () => {
  const cache = createRecordHeadCache(3);
  for (let i = 0; i < 3; i++)
    cache.set("r@01", `h${i}`, { state: "Pending", lastEventSeq: 0, missingSeqCount: 0 });
  assert.equal(cache.size, 3);
  cache.set("r@01", "h9", { state: "Pending", lastEventSeq: 0, missingSeqCount: 0 });
  assert.equal(cache.size, 1);
  assert.ok(cache.get("r@01", "h9"));
});
