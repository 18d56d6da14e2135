// applyBatch on both dialects: one transaction per batch, the record, log and derived rows
// together, duplicates skipped, a failure anywhere leaving nothing behind.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { sql } from "kysely";
import type { RemoteEvent } from "../../src/core/event.js";
import { type BatchItem, createBatchApplier } from "../../src/storage/apply-batch.js";
import type { Database } from "../../src/storage/database.js";
import { getRecord } from "../../src/storage/get-record.js";
import { listEvents } from "../../src/storage/list-events.js";
import { listProbeFailures } from "../../src/storage/list-probe-failures.js";
import { listQuarantines } from "../../src/storage/list-quarantines.js";
import { at, ev, t } from "./events.js";
import { DIALECTS, withStore } from "./harness.js";
import { count, open, snapshot } from "./setup.js";

const R = "stable@3f2a9c1e";
const NOW = at("2026-05-16T02:00:00.123456789Z");

function item(
  hostname: string,
  event: RemoteEvent,
  signature: Uint8Array | null = null,
): BatchItem {
  return { rolloutId: R, hostname, event, signature };
}

/** A trigger that makes inserting a probe failure for `probeName` fail. */
async function failOnProbe(database: Database, probeName: string): Promise<void> {
  if (database.kind === "sqlite") {
    await sql
      .raw(
        `create trigger boom before insert on probe_failures when new.probe_name = '${probeName}'
         begin select raise(abort, 'injected failure'); end`,
      )
      .execute(database.db);
  } else {
    await sql
      .raw(
        `create function boom() returns trigger language plpgsql as $$
           begin raise exception 'injected failure'; end $$;
         create trigger boom before insert on probe_failures
           for each row when (new.probe_name = '${probeName}') execute function boom()`,
      )
      .execute(database.db);
  }
}

for (const kind of DIALECTS) {
  describe(`applyBatch (${kind})`, () => {
    test("writes the record, the log row and the derived rows together", async () => {
      await withStore(kind, async ({ database }) => {
        await open(database, R, ["web-01"]);
        const { applyBatch } = createBatchApplier(database);
        const signature = new Uint8Array([1, 2, 3, 255]);
        const subResults = [
          { controlId: "A.8.1", status: "fail", framework: "nis2", effectiveMode: "enforce" },
          { controlId: "enc", status: "fail", framework: "nis2", effectiveMode: "observe" },
        ] as const;
        const outcomes = await applyBatch(
          [
            item("web-01", ev.dispatchAck(1), signature),
            item("web-01", ev.activationCompleted(2, "target-web-01")),
            item("web-01", ev.probeResult(3, "http", "fail", 6, "enforce", [...subResults])),
            item("web-01", ev.failed(4)),
            item("web-01", ev.rollbackComplete(5)),
          ],
          NOW,
        );
        assert.deepEqual(
          outcomes.map((o) => (o.type === "applied" ? [o.eventLogId, o.record.state] : o.type)),
          [
            [1, "Activating"],
            [2, "Soaking"],
            [3, "Soaking"],
            [4, "Failed"],
            [5, "Reverted"],
          ],
        );
        const first = outcomes[0];
        assert.ok(first?.type === "applied");
        assert.deepEqual(first.transition, { from: "Pending", to: "Activating", at: t(1) });
        assert.ok(outcomes[2]?.type === "applied" && outcomes[2].transition === null);

        const record = await getRecord(database.db, R, "web-01");
        const last = outcomes[4];
        assert.ok(last?.type === "applied");
        assert.deepEqual(record, last.record);
        assert.equal(record?.state, "Reverted");
        assert.equal(record?.lastEventSeq, 5);
        assert.equal(record?.revertedTo, "prev-closure");
        assert.equal(record?.policyApplied, "rollback-and-halt");
        assert.deepEqual(
          record?.probes.map((p) => [p.probeName, p.status]),
          [["http", "fail"]],
        );

        const events = await listEvents(database.db, { rolloutId: R, limit: 100 });
        assert.equal(events.length, 5);
        assert.deepEqual(events[0], {
          id: 1,
          recordedAt: NOW,
          hostname: "web-01",
          rolloutId: R,
          seq: 1,
          kind: "DispatchAck",
          event: ev.dispatchAck(1),
          signature,
          synthesized: false,
          // The item carried no verified form (the edge supplies it): nothing to keep.
          signedForm: null,
          signerKey: null,
        });
        assert.equal(events[1]?.signature, null);
        assert.deepEqual(
          events[2]?.event,
          ev.probeResult(3, "http", "fail", 6, "enforce", [...subResults]),
        );

        const failures = await listProbeFailures(database.db, R);
        assert.deepEqual(
          failures.map((f) => [f.eventLogId, f.probeName, f.controlId, f.framework, f.mode]),
          // With sub-results, only the failing enforce controls (the probe row only without).
          [[3, "http", "A.8.1", "nis2", "enforce"]],
        );
        assert.deepEqual(await listQuarantines(database.db), [
          {
            channel: "stable",
            closure: "target-web-01",
            rolloutId: R,
            hostname: "web-01",
            eventLogId: 5,
            quarantinedAt: NOW,
          },
        ]);
      });
    });

    test("a statement failing mid-batch rolls the whole batch back", async () => {
      await withStore(kind, async ({ database }) => {
        await open(database, R, ["web-01", "web-02"]);
        const { applyBatch } = createBatchApplier(database);
        await failOnProbe(database, "boom");
        const batch = [
          item("web-01", ev.dispatchAck(1)),
          item("web-02", ev.dispatchAck(1)),
          item("web-02", ev.activationCompleted(2, "target-web-02")),
          item("web-02", ev.probeResult(3, "boom", "fail")),
          item("web-01", ev.activationStarted(2)),
        ];
        await assert.rejects(applyBatch(batch, NOW), /injected failure/);
        for (const host of ["web-01", "web-02"]) {
          const record = await getRecord(database.db, R, host);
          assert.equal(record?.state, "Pending");
          assert.equal(record?.lastEventSeq, 0);
        }
        assert.equal(await count(database, "event_log"), 0);
        assert.equal(await count(database, "probe_failures"), 0);

        // The connection is usable afterwards and the same batch applies once the cause is gone.
        await sql`drop trigger boom${sql.raw(database.kind === "postgres" ? " on probe_failures" : "")}`.execute(
          database.db,
        );
        const outcomes = await applyBatch(batch, NOW);
        assert.deepEqual(
          outcomes.map((o) => o.type),
          ["applied", "applied", "applied", "applied", "applied"],
        );
        assert.equal(await count(database, "event_log"), 5);
        assert.equal(await count(database, "probe_failures"), 1);
      });
    });

    test("a throw while planning (unserializable event) leaves nothing", async () => {
      await withStore(kind, async ({ database }) => {
        await open(database, R, ["web-01"]);
        const { applyBatch } = createBatchApplier(database);
        const poisoned = { ...ev.activationStarted(2), exitCode: 1n } as unknown as RemoteEvent;
        await assert.rejects(
          applyBatch([item("web-01", ev.dispatchAck(1)), item("web-01", poisoned)], NOW),
          /BigInt/,
        );
        assert.equal((await getRecord(database.db, R, "web-01"))?.lastEventSeq, 0);
        assert.equal(await count(database, "event_log"), 0);
        const [outcome] = await applyBatch([item("web-01", ev.dispatchAck(1))], NOW);
        assert.equal(outcome?.type, "applied");
      });
    });

    test("duplicates inside one batch and across batches are skipped", async () => {
      await withStore(kind, async ({ database }) => {
        await open(database, R, ["web-01"]);
        const { applyBatch } = createBatchApplier(database);
        const first = await applyBatch(
          [
            item("web-01", ev.dispatchAck(1)),
            item("web-01", ev.dispatchAck(1)),
            item("web-01", ev.activationStarted(2)),
            item("web-01", ev.dispatchAck(1)),
          ],
          NOW,
        );
        assert.deepEqual(
          first.map((o) => o.type),
          ["applied", "duplicate", "applied", "duplicate"],
        );
        // A duplicate reports the record as it stood at that point of the batch.
        assert.equal(first[1]?.type === "duplicate" && first[1].record.lastEventSeq, 1);
        assert.equal(first[3]?.type === "duplicate" && first[3].record.lastEventSeq, 2);
        const second = await applyBatch(
          [item("web-01", ev.activationStarted(2)), item("web-01", ev.activationStarted(3))],
          NOW,
        );
        assert.deepEqual(
          second.map((o) => o.type),
          ["duplicate", "applied"],
        );
        assert.equal(await count(database, "event_log"), 3);
        assert.equal((await getRecord(database.db, R, "web-01"))?.lastEventSeq, 3);
      });
    });

    test("unknown hosts are notFound and illegal events refused, changing nothing", async () => {
      await withStore(kind, async ({ database }) => {
        await open(database, R, ["web-01"]);
        const { applyBatch } = createBatchApplier(database);
        const outcomes = await applyBatch(
          [
            item("web-99", ev.dispatchAck(1)),
            {
              rolloutId: "stable@ffff",
              hostname: "web-01",
              event: ev.dispatchAck(1),
              signature: null,
            },
            item("web-01", ev.activationStarted(1)),
            item("web-01", ev.dispatchAck(2)),
            item("web-01", ev.dispatchAck(3)),
            item("web-01", ev.converged(4, "target-web-01", 10)),
          ],
          NOW,
        );
        assert.deepEqual(
          outcomes.map((o) => o.type),
          ["notFound", "notFound", "refused", "applied", "refused", "refused"],
        );
        const refused = outcomes[2];
        assert.ok(refused?.type === "refused");
        assert.deepEqual(refused.error, {
          type: "illegalForState",
          state: "Pending",
          kind: "ActivationStarted",
        });
        assert.equal(refused.record.lastEventSeq, 0);
        assert.ok(outcomes[4]?.type === "refused");
        assert.equal(outcomes[4].record.state, "Activating");
        assert.equal(await count(database, "event_log"), 1);
        const record = await getRecord(database.db, R, "web-01");
        assert.equal(record?.state, "Activating");
        assert.equal(record?.lastEventSeq, 2);
      });
    });

    test("the first quarantine of a closure wins, within a batch and across batches", async () => {
      await withStore(kind, async ({ database }) => {
        const shared = { targetClosure: "bad-closure" };
        await open(database, R, [
          { hostname: "a", ...shared },
          { hostname: "b", ...shared },
          { hostname: "c", ...shared },
        ]);
        const { applyBatch } = createBatchApplier(database);
        const toFailed = (host: string) => [
          item(host, ev.dispatchAck(1)),
          item(host, ev.activationFailed(2)),
        ];
        await applyBatch([...toFailed("a"), ...toFailed("b"), ...toFailed("c")], NOW);
        const later = at("2026-05-16T03:00:00Z");
        const [b, a] = await applyBatch(
          [item("b", ev.rollbackComplete(3)), item("a", ev.rollbackComplete(3))],
          NOW,
        );
        await applyBatch([item("c", ev.rollbackComplete(3))], later);
        assert.ok(b?.type === "applied" && a?.type === "applied");
        assert.deepEqual(await listQuarantines(database.db, "stable"), [
          {
            channel: "stable",
            closure: "bad-closure",
            rolloutId: R,
            hostname: "b",
            eventLogId: b.eventLogId,
            quarantinedAt: NOW,
          },
        ]);
        assert.deepEqual(await listQuarantines(database.db, "other"), []);
        assert.equal((await getRecord(database.db, R, "c"))?.state, "Reverted");
      });
    });

    test("an empty batch is a no-op", async () => {
      await withStore(kind, async ({ database }) => {
        assert.deepEqual(await createBatchApplier(database).applyBatch([], NOW), []);
      });
    });
  });
}

describe("applyBatch on SQLite and PostgreSQL", () => {
  test("the same batches give identical outcomes and rows on both dialects", async () => {
    const hosts = ["web-01", "web-02", "db-01"];
    const batches: BatchItem[][] = [
      [item("web-01", ev.dispatchAck(1)), item("web-02", ev.dispatchAck(1))],
      [
        item("web-01", ev.activationCompleted(2, "target-web-01")),
        item("web-02", ev.activationFailed(2)),
        item("db-01", ev.dispatchAck(1), new Uint8Array([9, 9])),
        item("db-01", ev.activationDeferred(2)),
        item("web-01", ev.topology(3)),
        item("web-01", ev.observedFirst(4)),
        item("web-01", ev.probeResult(5, "http", "fail")),
        item("web-01", ev.failureFirst(6)),
        item("web-01", ev.probeResult(7, "http", "pass", 8)),
        item("web-01", ev.converged(8, "target-web-01", 9)),
      ],
      [item("web-02", ev.rollbackComplete(3)), item("web-02", ev.rollbackComplete(3))],
      [item("db-01", ev.activationCompleted(3, "target-db-01")), item("db-01", ev.failed(4))],
    ];
    const run = (kind: "sqlite" | "postgres") =>
      withStore(kind, async ({ database }) => {
        await open(database, R, hosts);
        const { applyBatch } = createBatchApplier(database);
        const outcomes = [];
        for (const batch of batches) outcomes.push(await applyBatch(batch, NOW));
        return { outcomes, ...(await snapshot(database, [R])) };
      });
    const [sqlite, postgres] = [await run("sqlite"), await run("postgres")];
    assert.deepEqual(postgres, sqlite);
    assert.equal(sqlite.events.length, 15);
  });
});
