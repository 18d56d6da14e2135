// The event log's id is a commit-ordered cursor on both dialects: a follower paging ListEvents
// by afterId never misses an event whose lower id commits after a higher one was read.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { sql } from "kysely";
import { type BatchItem, createBatchApplier } from "../../src/storage/apply-batch.js";
import type { Database } from "../../src/storage/database.js";
import { listEvents } from "../../src/storage/list-events.js";
import { ev, t } from "./events.js";
import { DIALECTS, type TestStore, withStore } from "./harness.js";
import { open } from "./setup.js";

const R = "stable@c1c1";

/** An open transaction on its own connection that has inserted one event-log row. */
interface HeldInsert {
  commit(): Promise<void>;
}

/**
 * Begins a transaction on a second connection to the store and inserts h1's DispatchAck into
 * the log, as another writer (a replica) in the middle of its batch would; leaves it open.
 */
async function holdInsert(store: TestStore): Promise<HeldInsert> {
  const other = await store.open();
  const row = [t(0), "h1", R, 1, "DispatchAck", JSON.stringify(ev.dispatchAck(1))] as const;
  const insert = `insert into event_log (recorded_at, hostname, rollout_id, seq, kind, payload)
                  values ($1, $2, $3, $4, $5, $6)`;
  if (other.kind === "sqlite") {
    other.raw.prepare("begin immediate").run();
    other.raw.prepare(insert.replaceAll(/\$\d/g, "?")).run(...row);
    return { commit: async () => void other.raw.prepare("commit").run() };
  }
  const client = await other.pool.connect();
  await client.query("begin");
  await client.query(insert, [...row]);
  return {
    async commit() {
      await client.query("commit");
      client.release();
    },
  };
}

/** True once a session of the store waits for a lock (PostgreSQL), false on SQLite. */
async function someoneWaits(database: Database): Promise<boolean> {
  if (database.kind === "sqlite") return false;
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from pg_locks where not granted and database = (
      select oid from pg_database where datname = current_database())`.execute(database.db);
  return (rows[0]?.n ?? 0) > 0;
}

/** Pages the log the way a follower does: from its cursor, until a page comes back empty. */
async function page(database: Database, cursor: { afterId: number }, seen: number[]) {
  for (;;) {
    const events = await listEvents(database.db, {
      rolloutId: R,
      afterId: cursor.afterId,
      limit: 100,
    });
    if (events.length === 0) return;
    for (const e of events) seen.push(e.id);
    cursor.afterId = events.at(-1)!.id;
  }
}

for (const kind of DIALECTS) {
  describe(`event log cursor (${kind})`, () => {
    test("an event committed late with a lower id is not skipped by a follower", async () => {
      await withStore(kind, async (store) => {
        const { database } = store;
        await open(database, R, ["h1", "h2"]);
        // SQLite waits for its lock synchronously: keep that wait short, it blocks the loop.
        if (database.kind === "sqlite") database.raw.pragma("busy_timeout = 50");
        const held = await holdInsert(store);

        // Another writer commits h2's event while h1's is still uncommitted.
        const item: BatchItem = {
          rolloutId: R,
          hostname: "h2",
          event: ev.dispatchAck(1),
          signature: null,
        };
        const applier = createBatchApplier(database);
        let settled = false;
        const later = applier.applyBatch([item], t(1)).then(
          (outcomes) => {
            settled = true;
            return outcomes;
          },
          (error: unknown) => {
            settled = true;
            return error;
          },
        );
        for (let i = 0; i < 500 && !settled && !(await someoneWaits(database)); i++) {
          await new Promise((r) => setTimeout(r, 10));
        }

        const cursor = { afterId: 0 };
        const seen: number[] = [];
        await page(database, cursor, seen);
        await held.commit();
        const first = await later;
        if (!Array.isArray(first)) {
          // SQLite refused it (busy) rather than let it commit ahead; it is retried now.
          assert.equal(kind, "sqlite", String(first));
          await applier.applyBatch([item], t(1));
        }
        await page(database, cursor, seen);

        const all = (await listEvents(database.db, { rolloutId: R, limit: 100 })).map((e) => e.id);
        assert.equal(all.length, 2);
        assert.deepEqual(seen, all, "the follower saw every event once, in id order");
      });
    });
  });
}
