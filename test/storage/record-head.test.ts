// The server's read helpers that live in the store: the handler's record-head lookup and
// the per-state host counts behind the metrics gauge, on both dialects.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createBatchApplier } from "../../src/storage/apply-batch.js";
import { countHostsByState } from "../../src/storage/count-hosts.js";
import { createRecordHeadLookup } from "../../src/storage/record-head.js";
import { ev, T0 } from "./events.js";
import { DIALECTS, withStore } from "./harness.js";
import { open } from "./setup.js";

const R = "stable@3f2a9c1e";

for (const kind of DIALECTS) {
  describe(`server read helpers (${kind})`, () => {
    test("createRecordHeadLookup returns state, last seq and gap count, undefined when absent", async () => {
      await withStore(kind, async ({ database }) => {
        await open(database, R, ["a", "b"]);
        await createBatchApplier(database).applyBatch(
          [{ rolloutId: R, hostname: "a", event: ev.dispatchAck(4), signature: null }],
          T0,
        );
        const lookup = createRecordHeadLookup(database);
        assert.deepEqual(await lookup(R, "a"), {
          state: "Activating",
          lastEventSeq: 4,
          missingSeqCount: 3,
        });
        assert.deepEqual(await lookup(R, "b"), {
          state: "Pending",
          lastEventSeq: 0,
          missingSeqCount: 0,
        });
        assert.equal(await lookup(R, "c"), undefined);
      });
    });

    test("lookups asked together each get their own record's head (PostgreSQL reads them in one query)", async () => {
      await withStore(kind, async ({ database }) => {
        await open(database, R, ["a", "b"]);
        await open(database, "other@01", ["a"]);
        await createBatchApplier(database).applyBatch(
          [{ rolloutId: R, hostname: "a", event: ev.dispatchAck(2), signature: null }],
          T0,
        );
        const lookup = createRecordHeadLookup(database);
        const heads = await Promise.all([
          lookup(R, "a"),
          lookup(R, "b"),
          lookup("other@01", "a"),
          lookup(R, "a"),
          lookup(R, "missing"),
          lookup("none@00", "a"),
        ]);
        assert.deepEqual(
          heads.map((h) => (h === undefined ? undefined : `${h.state}/${h.lastEventSeq}`)),
          ["Activating/2", "Pending/0", "Pending/0", "Activating/2", undefined, undefined],
        );
        // The next turn reads again: a head is never served from an earlier read.
        await createBatchApplier(database).applyBatch(
          [{ rolloutId: R, hostname: "b", event: ev.dispatchAck(1), signature: null }],
          T0,
        );
        assert.equal((await lookup(R, "b"))?.lastEventSeq, 1);
      });
    });

    test("countHostsByState counts the most recently opened rollouts only", async () => {
      await withStore(kind, async ({ database }) => {
        await open(database, "old@01", ["a"]);
        await open(database, R, ["a", "b", "c"]);
        await createBatchApplier(database).applyBatch(
          [{ rolloutId: R, hostname: "b", event: ev.dispatchAck(1), signature: null }],
          T0,
        );
        const counts = await countHostsByState(database.db, 5);
        const sorted = [...counts].sort((x, y) =>
          `${x.rolloutId}/${x.state}` < `${y.rolloutId}/${y.state}` ? -1 : 1,
        );
        assert.deepEqual(sorted, [
          { rolloutId: "old@01", state: "Pending", count: 1 },
          { rolloutId: R, state: "Activating", count: 1 },
          { rolloutId: R, state: "Pending", count: 2 },
        ]);
        // Both rollouts were opened at T0; the bound still holds.
        assert.equal(
          new Set((await countHostsByState(database.db, 1)).map((c) => c.rolloutId)).size,
          1,
        );
      });
    });
  });
}
