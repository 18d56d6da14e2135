// Issue 11 (b): a batch whose commit fails for one item's data is split until the offending
// item is alone; its neighbours commit. An outage fails the batch once, with no split.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createBoundedChannel } from "../../../src/runtime/bounded-channel.js";
import { type PendingItem, type Settlement, startReducer } from "../../../src/runtime/reducer.js";

class DataError extends Error {}

function run(items: number[], apply: (xs: readonly number[]) => Promise<string[]>) {
  const ch = createBoundedChannel<PendingItem<number, string>>(1024);
  const settled = items.map(
    (item) =>
      new Promise<Settlement<string>>((settle) => {
        ch.trySend({ item, enqueuedAt: 0, settle });
      }),
  );
  ch.close();
  const reducer = startReducer<number, string>({
    channel: ch,
    batchSize: 1024,
    apply,
    isDataError: (e) => e instanceof DataError,
  });
  return { settled: Promise.all(settled), done: reducer.done };
}

test("one poison pill among 100 good items: 100 applied, 1 failed, in order", async () => {
  const committed: number[] = [];
  let attempts = 0;
  const items = Array.from({ length: 101 }, (_, i) => i);
  const { settled, done } = run(items, async (xs) => {
    attempts++;
    if (xs.includes(37)) throw new DataError("invalid byte sequence");
    committed.push(...xs);
    return xs.map((x) => `ok${x}`);
  });
  const results = await settled;
  await done;
  assert.deepEqual(
    committed,
    items.filter((i) => i !== 37),
  );
  results.forEach((r, i) => {
    if (i === 37) assert.ok(!r.ok && r.error instanceof DataError);
    else assert.deepEqual(r, { ok: true, outcome: `ok${i}` });
  });
  // log2(101) levels of halves, two commits per level at most.
  assert.ok(attempts <= 2 * 8 + 1, `${attempts} attempts`);
});

test("an outage is not split: one attempt, every item failed", async () => {
  let attempts = 0;
  const { settled, done } = run([1, 2, 3, 4], async () => {
    attempts++;
    throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  });
  const results = await settled;
  await done;
  assert.equal(attempts, 1);
  assert.ok(results.every((r) => !r.ok));
});
