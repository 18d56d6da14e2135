// Issue 11 (b): one event the store refuses (PostgreSQL: NUL in text; SQLite: a constraint)
// in a batch of 100 good ones → the 100 are applied, the bad one alone fails with a data
// error, and the next batch commits whole. Runs the real reducer over the real appliers.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { sql } from "kysely";
import { createBoundedChannel } from "../../src/runtime/bounded-channel.js";
import { type PendingItem, type Settlement, startReducer } from "../../src/runtime/reducer.js";
import {
  type BatchItem,
  type BatchOutcome,
  createBatchApplier,
} from "../../src/storage/apply-batch.js";
import { classifyStoreError } from "../../src/storage/store-error.js";
import { ev, t } from "./events.js";
import { DIALECTS, withStore } from "./harness.js";
import { count, open } from "./setup.js";

const ROLLOUT = "stable@0b";
const HOSTS = Array.from({ length: 101 }, (_, i) => `host-${String(i).padStart(3, "0")}`);
const POISONED = HOSTS[42] as string;

for (const kind of DIALECTS) {
  describe(`poison pill (${kind})`, () => {
    test("the bad event is refused alone; its 100 neighbours and the next batch commit", async () => {
      await withStore(kind, async ({ database }) => {
        await open(database, ROLLOUT, HOSTS);
        if (kind === "sqlite") {
          await sql`create trigger poison before insert on event_log when new.payload like '%poison-pill%'
                    begin select raise(abort, 'poison pill'); end`.execute(database.db);
        }
        // On PostgreSQL the real thing: text columns refuse NUL (22021).
        const bad = kind === "sqlite" ? "poison-pill" : "poison\u0000pill";
        const applier = createBatchApplier(database);
        const channel = createBoundedChannel<PendingItem<BatchItem, BatchOutcome>>(1024);
        let failedCommits = 0;
        const reducer = startReducer<BatchItem, BatchOutcome>({
          channel,
          batchSize: 512,
          apply: (items) => applier.applyBatch(items, t(100)),
          isDataError: (error) => classifyStoreError(error) === "data",
          onBatch: (report) => {
            if (report.failed) failedCommits++;
          },
        });
        const send = (item: BatchItem) =>
          new Promise<Settlement<BatchOutcome>>((settle) => {
            assert.ok(channel.trySend({ item, enqueuedAt: 0, settle }));
          });
        const first = HOSTS.map((hostname) =>
          send({
            rolloutId: ROLLOUT,
            hostname,
            event: ev.dispatchAck(1, 1, hostname === POISONED ? bad : "prev-closure"),
            signature: null,
          }),
        );
        const results = await Promise.all(first);
        results.forEach((r, i) => {
          if (HOSTS[i] === POISONED) {
            assert.equal(r.ok, false);
            if (!r.ok) assert.equal(classifyStoreError(r.error), "data");
          } else
            assert.ok(r.ok && r.outcome.type === "applied", `${HOSTS[i]}: ${JSON.stringify(r)}`);
        });
        assert.equal(await count(database, "event_log"), 100);
        // Splitting down to one event of 101 takes about 2·log2(101) failed attempts.
        assert.ok(failedCommits <= 16, `${failedCommits} failed commits`);
        failedCommits = 0;
        const second = await Promise.all(
          HOSTS.filter((h) => h !== POISONED).map((hostname) =>
            send({ rolloutId: ROLLOUT, hostname, event: ev.activationStarted(2), signature: null }),
          ),
        );
        assert.ok(second.every((r) => r.ok && r.outcome.type === "applied"));
        assert.equal(failedCommits, 0);
        assert.equal(await count(database, "event_log"), 200);
        channel.close();
        await reducer.done;
      });
    });
  });
}
