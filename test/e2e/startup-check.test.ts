// Issue 11 fix 11: the service refuses to start over a database migrated by a newer version,
// one missing a table, or one it cannot write to, saying why; it never serves such a store.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { sql } from "kysely";
import pg from "pg";
import pino from "pino";
import { startService } from "../../src/server/start-service.js";
import { createDatabase } from "../../src/storage/database.js";
import { migrateToLatest } from "../../src/storage/migrate.js";
import { PG_URL } from "../storage/harness.js";
import { cleanup, makeTestPki, type TestPki, testConfig } from "./harness.js";

describe("startup schema check", () => {
  let pki: TestPki;
  before(async () => {
    pki = await makeTestPki();
  });
  after(() => cleanup(pki));

  async function sqliteAt(
    name: string,
    prepare: (db: Awaited<ReturnType<typeof createDatabase>>) => Promise<void>,
  ) {
    const path = join(pki.dir, `${name}.sqlite`);
    const database = await createDatabase(path);
    await migrateToLatest(database);
    await prepare(database);
    await database.close();
    return path;
  }
  const start = (db: string) =>
    startService(testConfig(pki, ["--db", db]), pino({ level: "silent" }));

  test("a database migrated by a newer version", async () => {
    const db = await sqliteAt("newer", async (d) => {
      await sql`insert into kysely_migration (name, timestamp) values ('0099-future', '2027-01-01')`.execute(
        d.db,
      );
    });
    await assert.rejects(
      start(db),
      /migrated by a newer nixfleet-cp \(unknown migrations: 0099-future/,
    );
  });

  test("a database missing a table its migrations created", async () => {
    const db = await sqliteAt("missing", async (d) => {
      await sql`drop table probe_failures`.execute(d.db);
      await sql`drop table event_log`.execute(d.db);
    });
    await assert.rejects(start(db), /missing table\(s\) event_log, probe_failures/);
  });

  test("a PostgreSQL database that does not take writes (read-only role or replica)", async () => {
    const schema = `nixfleet_ro_${randomBytes(5).toString("hex")}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      await admin.query(`create schema ${schema}`);
      const rw = new URL(PG_URL);
      rw.searchParams.set("options", `-c search_path=${schema}`);
      const d = await createDatabase(rw.toString());
      await migrateToLatest(d);
      await d.close();
      const ro = new URL(PG_URL);
      ro.searchParams.set(
        "options",
        `-c search_path=${schema} -c default_transaction_read_only=on`,
      );
      await assert.rejects(start(ro.toString()), /does not take writes/);
    } finally {
      await admin.query(`drop schema ${schema} cascade`);
      await admin.end();
    }
  });

  test("a healthy database starts", async () => {
    const db = await sqliteAt("healthy", async () => {});
    const service = await start(db);
    await service.shutdown();
  });
});
