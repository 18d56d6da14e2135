// rateLimitedLog: a flood of refusals becomes at most N lines per window, and the next line
// says how many were left out.
import assert from "node:assert/strict";
import { test } from "node:test";
import { rateLimitedLog } from "../../../src/server/rate-limited-log.js";

test("at most linesPerWindow lines per window; the next window's first line counts the rest", () => {
  let now = 0;
  const lines: { n: number; suppressed?: number }[] = [];
  const log = rateLimitedLog<{ n: number }>((line) => lines.push(line), {
    linesPerWindow: 3,
    windowMs: 1000,
    now: () => now,
  });
  for (let n = 0; n < 1000; n++) log({ n });
  assert.deepEqual(lines, [{ n: 0 }, { n: 1 }, { n: 2 }]);
  now = 1000;
  log({ n: 1000 });
  assert.deepEqual(lines[3], { n: 1000, suppressed: 997 });
  log({ n: 1001 });
  assert.deepEqual(lines[4], { n: 1001 });
});
