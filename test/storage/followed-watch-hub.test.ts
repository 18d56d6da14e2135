// The log-following watch hub over both dialects: what it publishes for batches another
// writer (a replica) committed equals what that writer's reducer would have published itself.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createFollowedWatchHub } from "../../src/runtime/followed-watch-hub.js";
import type { HostChange } from "../../src/runtime/watch-hub.js";
import { type BatchItem, createBatchApplier } from "../../src/storage/apply-batch.js";
import { ev, lifecycle, t } from "./events.js";
import { DIALECTS, withStore } from "./harness.js";
import { open } from "./setup.js";

const R = "stable@f011";

async function until(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(done(), what);
}

for (const kind of DIALECTS) {
  describe(`followed watch hub (${kind})`, () => {
    test("publishes another writer's transitions in commit order, as its reducer would", async () => {
      await withStore(kind, async (store) => {
        await open(store.database, R, ["h1", "h2", "h3"]);
        const errors: unknown[] = [];
        const hub = createFollowedWatchHub({
          db: store.database.db,
          onError: (e) => errors.push(e),
          pageSize: 7,
        });
        const published: HostChange[] = [];
        const unsubscribe = hub.subscribe(R, (c) => published.push(c));
        try {
          await hub.ready(R);
          const writer = createBatchApplier(await store.open());
          const streams = ["h1", "h2", "h3"].map((h, i) =>
            lifecycle(8, `target-${h}`, { fail: i === 1 }).map(
              (event): BatchItem => ({ rolloutId: R, hostname: h, event, signature: null }),
            ),
          );
          const expected: HostChange[] = [];
          for (let i = 0; i < 8; i += 2) {
            const items = streams.flatMap((s) => s.slice(i, i + 2));
            const outcomes = await writer.applyBatch(items, t(100 + i));
            outcomes.forEach((o, j) => {
              if (o.type !== "applied" || o.transition === null) return;
              const item = items[j]!;
              expected.push({
                rolloutId: R,
                hostname: item.hostname,
                ...o.transition,
                eventLogId: o.eventLogId,
                record: o.record,
              });
            });
            if (i === 2) hub.poke(); // one read in the middle, the rest at the end
          }
          hub.poke();
          await until("every change published", () => published.length >= expected.length);
          await new Promise((r) => setTimeout(r, 50));
          assert.deepEqual(published, expected);
          assert.deepEqual(errors, []);
        } finally {
          unsubscribe();
          await hub.close();
        }
      });
    });

    test("an event that does not replay is reported, and the rollout is followed again", async () => {
      await withStore(kind, async (store) => {
        await open(store.database, R, ["h1", "h2"]);
        const errors: unknown[] = [];
        const hub = createFollowedWatchHub({
          db: store.database.db,
          onError: (e) => errors.push(e),
          maxRetryMs: 20,
        });
        const published: HostChange[] = [];
        const unsubscribe = hub.subscribe(R, (c) => published.push(c));
        try {
          await hub.ready(R);
          // A row no applier would write: Converged for a host still Pending.
          await store.database.db
            .insertInto("event_log")
            .values({
              recorded_at: t(1),
              hostname: "h1",
              rollout_id: R,
              seq: 7,
              kind: "Converged",
              payload: JSON.stringify(ev.converged(7, "target-h1", 9)),
              signature: null,
            })
            .execute();
          hub.poke();
          await until("the bad row is reported", () => errors.length > 0);
          assert.match(String(errors[0]), /does not replay/);
          const writer = createBatchApplier(store.database);
          const [outcome] = await writer.applyBatch(
            [{ rolloutId: R, hostname: "h2", event: ev.dispatchAck(1), signature: null }],
            t(2),
          );
          assert.equal(outcome?.type, "applied");
          hub.poke();
          await until("the next change is published", () => published.length > 0);
          assert.deepEqual(
            published.map((c) => [c.hostname, c.from, c.to]),
            [["h2", "Pending", "Activating"]],
          );
        } finally {
          unsubscribe();
          await hub.close();
        }
      });
    });

    test("a watch of a rollout that does not exist is refused, not left waiting", async () => {
      await withStore(kind, async (store) => {
        const hub = createFollowedWatchHub({ db: store.database.db, onError: () => {} });
        const unsubscribe = hub.subscribe("stable@404", () => {});
        await assert.rejects(hub.ready("stable@404"), /no rollout/);
        unsubscribe();
        await hub.close();
      });
    });
  });
}
