// Migrations run up, down and up again on both dialects, and the CHECK constraints hold.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { sql } from "kysely";
import type { Database } from "../../src/storage/database.js";
import { migrateDown, migrateToLatest, migrationProvider } from "../../src/storage/migrate.js";
import { openRollout } from "../../src/storage/open-rollout.js";
import type { DialectKind } from "../../src/storage/schema.js";
import { T0 } from "./events.js";
import { DIALECTS, withStore } from "./harness.js";

const TABLES = [
  "cert_revocations",
  "event_log",
  "host_rollout_records",
  "hosts",
  "probe_failures",
  "quarantined_closures",
  "refused_events",
  "rollouts",
];

async function tables(database: Database): Promise<string[]> {
  const query =
    database.kind === "sqlite"
      ? sql<{ name: string }>`select name from sqlite_master where type = 'table'`
      : sql<{
          name: string;
        }>`select table_name as name from information_schema.tables where table_schema = current_schema()`;
  const { rows } = await query.execute(database.db);
  return rows
    .map((r) => r.name)
    .filter((n) => !n.startsWith("kysely_") && !n.startsWith("sqlite_"))
    .sort();
}

/** Every migration's name, in the order they apply. */
async function migrationNames(kind: DialectKind): Promise<string[]> {
  return Object.keys(await migrationProvider(kind).getMigrations()).sort();
}

async function openOne(database: Database): Promise<void> {
  const result = await openRollout(
    database.db,
    {
      rolloutId: "stable@abc1",
      channel: "stable",
      policy: "halt",
      soakDurationSecs: 60,
      hosts: [{ hostname: "web-01", targetClosure: "new" }],
    },
    T0,
  );
  assert.equal(result.ok, true);
}

for (const kind of DIALECTS) {
  describe(`migrations (${kind})`, () => {
    test("up, down and up again", async () => {
      await withStore(
        kind,
        async ({ database }) => {
          const names = await migrationNames(kind);
          assert.deepEqual(await tables(database), []);
          assert.deepEqual(await migrateToLatest(database), names);
          assert.deepEqual(await tables(database), TABLES);
          assert.deepEqual(await migrateToLatest(database), [], "already up to date");
          await openOne(database);
          for (const name of [...names].reverse()) assert.equal(await migrateDown(database), name);
          assert.deepEqual(await tables(database), []);
          assert.equal(await migrateDown(database), undefined, "nothing left to revert");
          assert.deepEqual(await migrateToLatest(database), names);
          assert.deepEqual(await tables(database), TABLES);
          await openOne(database);
        },
        { migrate: false },
      );
    });

    test("migrating beside an already migrated store (another schema) works", async () => {
      await withStore(kind, async () => {
        await withStore(
          kind,
          async ({ database }) => {
            const names = await migrationNames(kind);
            assert.deepEqual(await migrateToLatest(database), names);
            await openOne(database);
            assert.equal(await migrateDown(database), names.at(-1));
          },
          { migrate: false },
        );
      });
    });

    test("CHECK constraints reject a bad state and policy", async () => {
      await withStore(kind, async ({ database }) => {
        const { db } = database;
        await openOne(database);
        const setState = (state: string) =>
          db
            .updateTable("host_rollout_records")
            // biome-ignore lint/suspicious/noExplicitAny: deliberately outside the type.
            .set({ state: state as any })
            .where("hostname", "=", "web-01")
            .execute();
        await assert.rejects(setState("Bogus"), /check/i);
        await assert.rejects(setState("pending"), /check/i, "states are case-sensitive");
        await setState("Soaking");
        await assert.rejects(
          db
            .updateTable("host_rollout_records")
            // biome-ignore lint/suspicious/noExplicitAny: deliberately outside the type.
            .set({ policy_applied: "ignore" as any })
            .execute(),
          /check/i,
        );
        await assert.rejects(
          db
            .insertInto("rollouts")
            .values({
              id: "stable@abc2",
              channel: "stable",
              // biome-ignore lint/suspicious/noExplicitAny: deliberately outside the type.
              on_health_failure: "retry" as any,
              soak_duration_secs: 0,
              opened_at: T0,
            })
            .execute(),
          /check/i,
        );
        const record = await db
          .selectFrom("host_rollout_records")
          .select(["state", "policy_applied"])
          .executeTakeFirstOrThrow();
        assert.deepEqual(record, { state: "Soaking", policy_applied: null });
      });
    });
  });
}
