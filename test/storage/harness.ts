// Runs each storage test on both dialects: a SQLite temp file and a fresh PostgreSQL schema.
// PostgreSQL is NIXFLEET_CP_TEST_PG or an embedded one (test/test-postgres.ts); being
// unreachable fails the test (CI must not quietly lose half the suite).
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { createDatabase, type Database } from "../../src/storage/database.js";
import { migrateToLatest } from "../../src/storage/migrate.js";
import type { DialectKind } from "../../src/storage/schema.js";
import { testPostgresUrl } from "../test-postgres.js";

/** The PostgreSQL the suite runs against (a superuser's URL). */
export const PG_URL = await testPostgresUrl();

/** One isolated store for one test. */
export interface TestStore {
  readonly kind: DialectKind;
  /** Opened and migrated. */
  readonly database: Database;
  /** Opens another Database on the same store (closed by cleanup). */
  open(): Promise<Database>;
}

/** Every dialect the suite covers. */
export const DIALECTS: readonly DialectKind[] = ["sqlite", "postgres"];

/** Creates an isolated store of `kind`, runs `fn`, then closes everything and removes it. */
export async function withStore<T>(
  kind: DialectKind,
  fn: (store: TestStore) => Promise<T>,
  options: { migrate?: boolean } = {},
): Promise<T> {
  const opened: Database[] = [];
  let url: string;
  let remove: () => Promise<void>;
  if (kind === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "nixfleet-storage-"));
    url = `sqlite:${join(dir, "store.db")}`;
    remove = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const schema = `nixfleet_test_${randomBytes(6).toString("hex")}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      await admin.query(`create schema ${schema}`);
    } finally {
      await admin.end();
    }
    const u = new URL(PG_URL);
    // Commit durability is not under test here; skipping the WAL flush keeps the suite fast.
    u.searchParams.set("options", `-c search_path=${schema} -c synchronous_commit=off`);
    url = u.toString();
    remove = async () => {
      const a = new pg.Client({ connectionString: PG_URL });
      await a.connect();
      try {
        await a.query(`drop schema ${schema} cascade`);
      } finally {
        await a.end();
      }
    };
  }
  const open = async () => {
    const database = await createDatabase(url);
    opened.push(database);
    return database;
  };
  try {
    const database = await open();
    if (options.migrate !== false) await migrateToLatest(database);
    return await fn({ kind, database, open });
  } finally {
    for (const database of opened) await database.close();
    await remove();
  }
}
