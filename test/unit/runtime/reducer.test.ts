// The bounded channel and the reducer loop: fail-fast sends, ordered batches, settlement only
// after the apply resolves, a failed commit failing its batch while the loop goes on, and drain.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createBoundedChannel } from "../../../src/runtime/bounded-channel.js";
import { type PendingItem, type Settlement, startReducer } from "../../../src/runtime/reducer.js";

function pending(item: number): {
  p: PendingItem<number, string>;
  settled: Promise<Settlement<string>>;
} {
  let settle!: (s: Settlement<string>) => void;
  const settled = new Promise<Settlement<string>>((r) => {
    settle = r;
  });
  return { p: { item, enqueuedAt: 0, settle }, settled };
}

describe("bounded channel", () => {
  test("trySend fails fast when full or closed; receive takes in order and drains after close", async () => {
    const ch = createBoundedChannel<number>(3);
    assert.ok(ch.trySend(1) && ch.trySend(2) && ch.trySend(3));
    assert.equal(ch.trySend(4), false);
    assert.equal(ch.depth, 3);
    assert.deepEqual(await ch.receive(2), [1, 2]);
    assert.ok(ch.trySend(5));
    ch.close();
    assert.equal(ch.trySend(6), false);
    assert.deepEqual(await ch.receive(10), [3, 5]);
    assert.deepEqual(await ch.receive(10), []);
  });

  test("receive waits for the first item", async () => {
    const ch = createBoundedChannel<string>(2);
    const got = ch.receive(5);
    setTimeout(() => ch.trySend("a"), 10);
    assert.deepEqual(await got, ["a"]);
  });

  test("trySendAll queues every item in order or none of them", async () => {
    const ch = createBoundedChannel<number>(4);
    assert.ok(ch.trySend(1));
    assert.equal(ch.trySendAll([2, 3, 4, 5]), false, "4 more do not fit in 3 free slots");
    assert.equal(ch.depth, 1, "nothing of the refused batch was queued");
    assert.ok(ch.trySendAll([2, 3, 4]));
    assert.deepEqual(await ch.receive(10), [1, 2, 3, 4]);
    ch.close();
    assert.equal(ch.trySendAll([6]), false);
  });

  test("wraps around its ring buffer", async () => {
    const ch = createBoundedChannel<number>(2);
    for (let i = 0; i < 10; i++) {
      assert.ok(ch.trySend(i));
      assert.deepEqual(await ch.receive(1), [i]);
    }
  });
});

describe("reducer", () => {
  test("batches in order, settles each with its own outcome after the apply", async () => {
    const ch = createBoundedChannel<PendingItem<number, string>>(16);
    const batches: number[][] = [];
    const items = [1, 2, 3, 4, 5].map(pending);
    for (const { p } of items) ch.trySend(p);
    const reducer = startReducer<number, string>({
      channel: ch,
      batchSize: 2,
      apply: async (xs) => {
        batches.push([...xs]);
        return xs.map((x) => `ok${x}`);
      },
    });
    const results = await Promise.all(items.map((i) => i.settled));
    assert.deepEqual(batches, [[1, 2], [3, 4], [5]]);
    assert.deepEqual(
      results,
      [1, 2, 3, 4, 5].map((x) => ({ ok: true, outcome: `ok${x}` })),
    );
    ch.close();
    await reducer.done;
  });

  test("a failed commit fails its whole batch and the loop goes on", async () => {
    const ch = createBoundedChannel<PendingItem<number, string>>(16);
    let calls = 0;
    const failures: number[] = [];
    const reducer = startReducer<number, string>({
      channel: ch,
      batchSize: 10,
      apply: async (xs) => {
        calls++;
        if (calls === 1) throw new Error("disk full");
        return xs.map(String);
      },
      onError: (_e, size) => failures.push(size),
    });
    const first = [1, 2].map(pending);
    for (const { p } of first) ch.trySend(p);
    const firstResults = await Promise.all(first.map((i) => i.settled));
    assert.ok(firstResults.every((r) => !r.ok));
    const second = pending(3);
    ch.trySend(second.p);
    assert.deepEqual(await second.settled, { ok: true, outcome: "3" });
    assert.deepEqual(failures, [2]);
    ch.close();
    await reducer.done;
  });

  test("an item whose skip() answers is settled with it and left out of its batch", async () => {
    const ch = createBoundedChannel<PendingItem<number, string>>(16);
    const applied: number[][] = [];
    const failed = new Set<number>();
    const items = [1, 2, 3, 4].map(pending);
    // Item 4 depends on item 1: once 1 failed, 4 is skipped (asked only when its batch comes).
    const four = items[3] as ReturnType<typeof pending>;
    const dependent: PendingItem<number, string> = {
      ...four.p,
      skip: () => (failed.has(1) ? { ok: false, error: new Error("skipped") } : undefined),
    };
    const first = items[0] as ReturnType<typeof pending>;
    const watched: PendingItem<number, string> = {
      ...first.p,
      settle(s) {
        if (!s.ok) failed.add(1);
        first.p.settle(s);
      },
    };
    ch.trySendAll([
      watched,
      (items[1] as ReturnType<typeof pending>).p,
      (items[2] as ReturnType<typeof pending>).p,
      dependent,
    ]);
    const reducer = startReducer<number, string>({
      channel: ch,
      batchSize: 2,
      apply: async (xs) => {
        applied.push([...xs]);
        if (xs.includes(1)) throw new Error("outage");
        return xs.map(String);
      },
    });
    const results = await Promise.all(items.map((i) => i.settled));
    assert.deepEqual(applied, [[1, 2], [3]]);
    assert.deepEqual(
      results.map((r) => r.ok),
      [false, false, true, false],
    );
    ch.close();
    await reducer.done;
  });

  test("close drains what was accepted before done resolves", async () => {
    const ch = createBoundedChannel<PendingItem<number, string>>(16);
    const items = [1, 2, 3].map(pending);
    for (const { p } of items) ch.trySend(p);
    ch.close();
    const reducer = startReducer<number, string>({
      channel: ch,
      batchSize: 1,
      apply: async (xs) => xs.map(String),
    });
    await reducer.done;
    const results = await Promise.all(items.map((i) => i.settled));
    assert.ok(results.every((r) => r.ok));
  });
});
