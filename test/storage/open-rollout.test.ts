// Opening rollouts (idempotent, conflicts as values, safe when two openers race) and the
// record reads: getRecord, getRollout and keyset-paginated listRecords.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { addSeconds } from "../../src/core/instant.js";
import { createBatchApplier } from "../../src/storage/apply-batch.js";
import { getRecord } from "../../src/storage/get-record.js";
import type { Queryable } from "../../src/storage/in-transaction.js";
import { listRecords, type RecordFilter } from "../../src/storage/list-records.js";
import { type OpenRolloutRequest, openRollout } from "../../src/storage/open-rollout.js";
import { getRollout } from "../../src/storage/rollout.js";
import { ev, T0, t } from "./events.js";
import { DIALECTS, withStore } from "./harness.js";

const REQUEST: OpenRolloutRequest = {
  rolloutId: "stable@3f2a9c1e",
  channel: "stable",
  policy: "halt",
  soakDurationSecs: 300,
  hosts: [
    { hostname: "web-01", targetClosure: "closure-web-01" },
    { hostname: "web-02", targetClosure: "closure-web-02" },
  ],
};

async function all(db: Queryable, filter: RecordFilter, pageSize: number) {
  const keys: string[] = [];
  let after: { rolloutId: string; hostname: string } | undefined;
  let pages = 0;
  do {
    const page = await listRecords(db, filter, { pageSize, ...(after ? { after } : {}) });
    assert.ok(page.records.length <= pageSize);
    keys.push(...page.records.map((r) => `${r.rolloutId}/${r.hostname}`));
    after = page.next;
    pages++;
  } while (after !== undefined);
  return { keys, pages };
}

for (const kind of DIALECTS) {
  describe(`openRollout and record reads (${kind})`, () => {
    test("opens the rollout and one Pending record per host", async () => {
      await withStore(kind, async ({ database: { db } }) => {
        const result = await openRollout(db, REQUEST, T0);
        const rollout = {
          id: "stable@3f2a9c1e",
          channel: "stable",
          policy: "halt",
          soakDurationSecs: 300,
          openedAt: T0,
        };
        assert.deepEqual(result, { ok: true, created: true, rollout });
        assert.deepEqual(await getRollout(db, "stable@3f2a9c1e"), rollout);
        assert.equal(await getRollout(db, "stable@0000"), undefined);
        assert.deepEqual(await getRecord(db, "stable@3f2a9c1e", "web-02"), {
          rolloutId: "stable@3f2a9c1e",
          hostname: "web-02",
          channel: "stable",
          state: "Pending",
          targetClosure: "closure-web-02",
          currentClosureAtDispatch: null,
          currentClosure: null,
          revertedTo: null,
          dispatchedAt: T0,
          dispatchAckedAt: null,
          activationStartedAt: null,
          activationCompletedAt: null,
          activationFailedAt: null,
          probeObservedFirstAt: null,
          probeFailureFirstAt: null,
          soakDueAt: addSeconds(T0, 300),
          convergedAt: null,
          failedAt: null,
          policyApplied: null,
          revertedAt: null,
          probes: [],
          lastEventSeq: 0,
          missingSeqCount: 0,
          missingSeqs: [],
        });
        assert.equal(await getRecord(db, "stable@3f2a9c1e", "web-03"), undefined);
      });
    });

    test("re-opening with the same definition is idempotent", async () => {
      await withStore(kind, async ({ database }) => {
        const { db } = database;
        await openRollout(db, REQUEST, T0);
        await createBatchApplier(database).applyBatch(
          [
            {
              rolloutId: REQUEST.rolloutId,
              hostname: "web-01",
              event: ev.dispatchAck(1),
              signature: null,
            },
          ],
          t(10),
        );
        const before = await listRecords(db, {}, { pageSize: 10 });
        const again = await openRollout(
          db,
          { ...REQUEST, hosts: [...REQUEST.hosts].reverse() },
          t(3600),
        );
        assert.deepEqual(again, {
          ok: true,
          created: false,
          rollout: {
            id: REQUEST.rolloutId,
            channel: "stable",
            policy: "halt",
            soakDurationSecs: 300,
            openedAt: T0,
          },
        });
        assert.deepEqual(await listRecords(db, {}, { pageSize: 10 }), before);
      });
    });

    test("re-opening with a different definition is a conflict that changes nothing", async () => {
      await withStore(kind, async ({ database: { db } }) => {
        await openRollout(db, REQUEST, T0);
        const h = REQUEST.hosts;
        const cases: [Partial<OpenRolloutRequest>, string][] = [
          [{ policy: "rollback-and-halt" }, "policy"],
          [{ soakDurationSecs: 0 }, "soakDuration"],
          [{ hosts: [h[0]!] }, "hosts"],
          [{ hosts: [...h, { hostname: "web-03", targetClosure: "c" }] }, "hosts"],
          [{ hosts: [h[0]!, { hostname: "web-02", targetClosure: "other" }] }, "hosts"],
          [{ hosts: [h[0]!, { hostname: "web-03", targetClosure: "closure-web-02" }] }, "hosts"],
        ];
        for (const [change, conflict] of cases) {
          const result = await openRollout(db, { ...REQUEST, ...change }, t(60));
          assert.equal(result.ok, false);
          assert.ok(!result.ok);
          assert.equal(result.conflict, conflict);
          assert.match(result.message, /stable@3f2a9c1e is already open/);
          assert.equal(result.existing.policy, "halt");
        }
        const { keys } = await all(db, {}, 10);
        assert.deepEqual(keys, ["stable@3f2a9c1e/web-01", "stable@3f2a9c1e/web-02"]);
      });
    });

    test("input the server must reject throws and writes nothing", async () => {
      await withStore(kind, async ({ database: { db } }) => {
        const bad: Partial<OpenRolloutRequest>[] = [
          { rolloutId: "Stable@3f2a" },
          { rolloutId: "stable@xyz" },
          { channel: "beta" },
          { soakDurationSecs: -1 },
          { soakDurationSecs: 1.5 },
          { hosts: [...REQUEST.hosts, REQUEST.hosts[0]!] },
        ];
        for (const change of bad) {
          await assert.rejects(openRollout(db, { ...REQUEST, ...change }, T0), RangeError);
        }
        assert.equal(await getRollout(db, REQUEST.rolloutId), undefined);
      });
    });

    test("two openers racing on one id: one creates, the other finds it", async () => {
      await withStore(kind, async ({ database, open }) => {
        // Two SQLite handles in one process would block each other's event loop in
        // busy_timeout; there the race is between two callers sharing one handle.
        const other = kind === "postgres" ? await open() : database;
        const results = await Promise.all([
          openRollout(database.db, REQUEST, T0),
          openRollout(other.db, REQUEST, t(1)),
        ]);
        assert.deepEqual(results.map((r) => r.ok && r.created).sort(), [false, true]);
        assert.equal((await all(database.db, {}, 10)).keys.length, 2);
      });
    });

    test("listRecords filters by rollout, host and state and pages by key", async () => {
      await withStore(kind, async ({ database }) => {
        const { db } = database;
        const hosts = ["h-3", "h-1", "H-2", "h-10", "h-2"];
        for (const rolloutId of ["beta@01", "alpha@02", "alpha@0a"]) {
          await openRollout(
            db,
            {
              rolloutId,
              channel: rolloutId.split("@")[0]!,
              policy: "halt",
              soakDurationSecs: 0,
              hosts: hosts.map((hostname) => ({ hostname, targetClosure: `c-${hostname}` })),
            },
            T0,
          );
        }
        await createBatchApplier(database).applyBatch(
          ["h-1", "h-10"].map((hostname) => ({
            rolloutId: "alpha@0a",
            hostname,
            event: ev.dispatchAck(1),
            signature: null,
          })),
          T0,
        );
        // Bytewise order on both dialects ("H" < "h", "h-1" < "h-10" < "h-2").
        const byHost = ["H-2", "h-1", "h-10", "h-2", "h-3"];
        const expected = ["alpha@02", "alpha@0a", "beta@01"].flatMap((r) =>
          byHost.map((h) => `${r}/${h}`),
        );
        for (const pageSize of [1, 4, 15, 100]) {
          const { keys, pages } = await all(db, {}, pageSize);
          assert.deepEqual(keys, expected, `page size ${pageSize}`);
          assert.equal(pages, Math.max(1, Math.ceil(15 / pageSize)));
        }
        assert.deepEqual((await all(db, { rolloutId: "alpha@0a" }, 2)).keys, expected.slice(5, 10));
        assert.deepEqual((await all(db, { hostname: "h-10" }, 2)).keys, [
          "alpha@02/h-10",
          "alpha@0a/h-10",
          "beta@01/h-10",
        ]);
        assert.deepEqual((await all(db, { state: "Activating" }, 1)).keys, [
          "alpha@0a/h-1",
          "alpha@0a/h-10",
        ]);
        assert.deepEqual(
          (await all(db, { rolloutId: "beta@01", hostname: "h-1", state: "Pending" }, 5)).keys,
          ["beta@01/h-1"],
        );
        assert.deepEqual(
          (await all(db, { rolloutId: "alpha@0a", state: "Converged" }, 5)).keys,
          [],
        );
        await assert.rejects(listRecords(db, {}, { pageSize: 0 }), RangeError);
      });
    });
  });
}
