// The read repositories (event log, dedup lookup, revocations) on both dialects, and how a
// database URL picks its dialect.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createBatchApplier } from "../../src/storage/apply-batch.js";
import { createDatabase, parseDatabaseUrl } from "../../src/storage/database.js";
import { lastEventSeq } from "../../src/storage/last-event-seq.js";
import { listEvents } from "../../src/storage/list-events.js";
import { migrateToLatest } from "../../src/storage/migrate.js";
import { findRevocation, upsertRevocations } from "../../src/storage/revocations.js";
import { at, ev, T0 } from "./events.js";
import { DIALECTS, withStore } from "./harness.js";
import { open } from "./setup.js";

const R = "stable@3f2a9c1e";

for (const kind of DIALECTS) {
  describe(`repositories (${kind})`, () => {
    test("listEvents reads a rollout's log after a cursor, by host, limited", async () => {
      await withStore(kind, async ({ database }) => {
        const { db } = database;
        await open(database, R, ["a", "b"]);
        await open(database, "beta@01", ["a"]);
        const { applyBatch } = createBatchApplier(database);
        await applyBatch(
          [
            { rolloutId: R, hostname: "a", event: ev.dispatchAck(1), signature: null },
            { rolloutId: "beta@01", hostname: "a", event: ev.dispatchAck(1), signature: null },
            { rolloutId: R, hostname: "b", event: ev.dispatchAck(1), signature: null },
            { rolloutId: R, hostname: "a", event: ev.activationStarted(2), signature: null },
            { rolloutId: R, hostname: "b", event: ev.activationStarted(5), signature: null },
          ],
          T0,
        );
        const ids = (rows: { id: number }[]) => rows.map((r) => r.id);
        assert.deepEqual(ids(await listEvents(db, { rolloutId: R, limit: 10 })), [1, 3, 4, 5]);
        assert.deepEqual(
          ids(await listEvents(db, { rolloutId: R, afterId: 3, limit: 10 })),
          [4, 5],
        );
        assert.deepEqual(ids(await listEvents(db, { rolloutId: R, limit: 2 })), [1, 3]);
        const b = await listEvents(db, { rolloutId: R, hostname: "b", limit: 10 });
        assert.deepEqual(
          b.map((e) => [e.id, e.seq, e.kind]),
          [
            [3, 1, "DispatchAck"],
            [5, 5, "ActivationStarted"],
          ],
        );
        assert.deepEqual(b[1]?.event, ev.activationStarted(5));
        assert.deepEqual(ids(await listEvents(db, { rolloutId: "beta@01", limit: 10 })), [2]);
        assert.deepEqual(await listEvents(db, { rolloutId: "none@00", limit: 10 }), []);
        await assert.rejects(listEvents(db, { rolloutId: R, limit: 0 }), RangeError);
      });
    });

    test("lastEventSeq answers alike given the Database or its Kysely instance", async () => {
      await withStore(kind, async ({ database }) => {
        await open(database, R, ["a", "b"]);
        await createBatchApplier(database).applyBatch(
          [
            { rolloutId: R, hostname: "a", event: ev.dispatchAck(1), signature: null },
            { rolloutId: R, hostname: "a", event: ev.activationStarted(7), signature: null },
          ],
          T0,
        );
        for (const via of [database, database.db]) {
          assert.equal(await lastEventSeq(via, R, "a"), 7);
          assert.equal(await lastEventSeq(via, R, "b"), 0);
          assert.equal(await lastEventSeq(via, R, "c"), undefined);
          assert.equal(await lastEventSeq(via, "beta@01", "a"), undefined);
        }
      });
    });

    test("revocations are looked up by machine id and replaced wholesale", async () => {
      await withStore(kind, async ({ database: { db } }) => {
        assert.equal(await findRevocation(db, "krach"), undefined);
        const early = at("2026-01-01T00:00:00Z");
        const late = at("2026-03-01T00:00:00.5Z");
        assert.equal(
          await upsertRevocations(db, [
            { machineId: "krach", notBefore: early, reason: "key leaked" },
            { machineId: "web-01", notBefore: early, reason: null },
            { machineId: "krach", notBefore: late, reason: "leaked again" },
          ]),
          2,
        );
        assert.deepEqual(await findRevocation(db, "krach"), {
          machineId: "krach",
          notBefore: late,
          reason: "leaked again",
        });
        assert.equal(await findRevocation(db, "agent-krach.fleet.lab.internal"), undefined);
        assert.equal(await findRevocation(db, "Krach"), undefined);
        assert.equal(
          await upsertRevocations(db, [{ machineId: "db-01", notBefore: early, reason: null }]),
          1,
        );
        assert.equal(await findRevocation(db, "krach"), undefined, "gone from the new list");
        assert.equal((await findRevocation(db, "db-01"))?.notBefore, early);
        assert.equal(await upsertRevocations(db, []), 0);
        assert.equal(await findRevocation(db, "db-01"), undefined);
      });
    });
  });
}

describe("database URLs", () => {
  test("a URL or path picks the dialect", () => {
    assert.deepEqual(parseDatabaseUrl("postgres://u@h:5432/d"), {
      kind: "postgres",
      url: "postgres://u@h:5432/d",
    });
    assert.equal(parseDatabaseUrl("postgresql://h/d").kind, "postgres");
    assert.deepEqual(parseDatabaseUrl("sqlite:/var/lib/cp.db"), {
      kind: "sqlite",
      path: "/var/lib/cp.db",
    });
    assert.deepEqual(parseDatabaseUrl("sqlite:///var/lib/cp.db"), {
      kind: "sqlite",
      path: "/var/lib/cp.db",
    });
    assert.deepEqual(parseDatabaseUrl("sqlite:cp.db"), { kind: "sqlite", path: "cp.db" });
    assert.deepEqual(parseDatabaseUrl("./state/cp.db"), { kind: "sqlite", path: "./state/cp.db" });
    assert.deepEqual(parseDatabaseUrl(":memory:"), { kind: "sqlite", path: ":memory:" });
    assert.deepEqual(parseDatabaseUrl("sqlite::memory:"), { kind: "sqlite", path: ":memory:" });
    assert.throws(() => parseDatabaseUrl("mysql://h/d"), RangeError);
    assert.throws(() => parseDatabaseUrl("sqlite:"), RangeError);
    assert.throws(() => parseDatabaseUrl(""), RangeError);
  });

  test("an in-memory SQLite store works end to end", async () => {
    const database = await createDatabase(":memory:");
    try {
      assert.equal(database.kind, "sqlite");
      await migrateToLatest(database);
      await open(database, R, ["a"]);
      assert.equal(await lastEventSeq(database, R, "a"), 0);
    } finally {
      await database.close();
      await database.close();
    }
  });

  test("an unreachable PostgreSQL fails createDatabase", async () => {
    await assert.rejects(createDatabase("postgres://root@127.0.0.1:1/test"), /ECONNREFUSED/);
  });
});
