// Two CP replicas on one PostgreSQL: two Databases (two pools) applying the same 1,000
// events, interleaved differently and in concurrent batches, apply each event exactly once
// and end with the records a single writer produces.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  type BatchItem,
  type BatchOutcome,
  createBatchApplier,
} from "../../src/storage/apply-batch.js";
import type { Database } from "../../src/storage/database.js";
import { lifecycle, t } from "./events.js";
import { withStore } from "./harness.js";
import { count, open, snapshot } from "./setup.js";

const R = "stable@c0ffee";
const HOSTS = 50;
const EVENTS_PER_HOST = 20;

const hosts = Array.from({ length: HOSTS }, (_, i) => ({
  hostname: `host-${String(i).padStart(2, "0")}`,
  // Shared targets, so rollbacks of different hosts race for the same quarantine key.
  targetClosure: `target-${i % 5}`,
  fail: i % 7 === 0,
}));

const streams: BatchItem[][] = hosts.map((h) =>
  lifecycle(EVENTS_PER_HOST, h.targetClosure, { fail: h.fail }).map((event) => ({
    rolloutId: R,
    hostname: h.hostname,
    event,
    signature: null,
  })),
);

/** All events in a random interleaving that keeps each host's own order. */
function interleave(seed: number): BatchItem[] {
  const rng = fc.sample(fc.integer({ min: 0, max: 1 << 30 }), { seed, numRuns: 2000 });
  const cursors = streams.map(() => 0);
  const out: BatchItem[] = [];
  let r = 0;
  while (out.length < HOSTS * EVENTS_PER_HOST) {
    const live = cursors.flatMap((c, i) => (c < EVENTS_PER_HOST ? [i] : []));
    const pick = live[(rng[r++ % rng.length] ?? 0) % live.length]!;
    out.push(streams[pick]![cursors[pick]!]!);
    cursors[pick]!++;
  }
  return out;
}

/** Cuts `items` into batches of 1..maxBatch (seeded). */
function batches(items: readonly BatchItem[], seed: number, maxBatch: number): BatchItem[][] {
  const sizes = fc.sample(fc.integer({ min: 1, max: maxBatch }), { seed, numRuns: items.length });
  const out: BatchItem[][] = [];
  for (let i = 0, s = 0; i < items.length; s++) {
    const size = sizes[s % sizes.length] ?? 1;
    out.push(items.slice(i, i + size));
    i += size;
  }
  return out;
}

/** One replica's reducer: its batches one after another. */
async function writer(
  database: Database,
  work: BatchItem[][],
): Promise<{ item: BatchItem; outcome: BatchOutcome }[]> {
  const { applyBatch } = createBatchApplier(database);
  const out: { item: BatchItem; outcome: BatchOutcome }[] = [];
  for (const [i, batch] of work.entries()) {
    const outcomes = await applyBatch(batch, t(1000 + i));
    for (const [j, item] of batch.entries()) out.push({ item, outcome: outcomes[j]! });
  }
  return out;
}

/** What must match between runs: everything but ids, CP times and quarantine winners. */
function comparable(s: Awaited<ReturnType<typeof snapshot>>) {
  return {
    records: s.records,
    events: s.events
      .map((e) => `${e.rolloutId}/${e.hostname}#${e.seq} ${JSON.stringify(e.event)}`)
      .sort(),
    probeFailures: s.probeFailures
      .map(({ id: _id, eventLogId: _e, ...rest }) => JSON.stringify(rest))
      .sort(),
    quarantines: s.quarantines.map((q) => `${q.channel}/${q.closure}`),
  };
}

describe("applyBatch concurrency (postgres)", () => {
  test("two replicas apply 1,000 interleaved events exactly once", async () => {
    const single = await withStore("postgres", async ({ database }) => {
      await open(database, R, hosts);
      await writer(database, batches(interleave(1), 7, 64));
      return comparable(await snapshot(database, [R]));
    });
    assert.equal(single.events.length, HOSTS * EVENTS_PER_HOST);

    await withStore("postgres", async ({ database, open: openAnother }) => {
      await open(database, R, hosts);
      const replica = await openAnother();
      const [a, b] = await Promise.all([
        writer(database, batches(interleave(2), 11, 48)),
        writer(replica, batches(interleave(3), 13, 80)),
      ]);
      const applied = new Map<string, number>();
      for (const { item, outcome } of [...a, ...b]) {
        assert.ok(
          outcome.type === "applied" || outcome.type === "duplicate",
          `${item.hostname}#${item.event.seq}: ${JSON.stringify(outcome)}`,
        );
        const key = `${item.hostname}#${item.event.seq}`;
        if (outcome.type === "applied") applied.set(key, (applied.get(key) ?? 0) + 1);
      }
      assert.equal(applied.size, HOSTS * EVENTS_PER_HOST, "every event applied");
      assert.ok(
        [...applied.values()].every((n) => n === 1),
        "no event applied twice",
      );
      assert.ok(
        a.some((x) => x.outcome.type === "applied") && b.some((x) => x.outcome.type === "applied"),
        "both replicas did some of the work",
      );
      assert.equal(await count(database, "event_log"), HOSTS * EVENTS_PER_HOST);
      assert.deepEqual(comparable(await snapshot(database, [R])), single);
    });
  });
});
