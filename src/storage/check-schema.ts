// The startup schema check (issue 11 fix 11): the service refuses to start, with a message an
// operator can act on, on a database migrated by a newer version, one missing a table its
// migrations created, or one it cannot write to; it never says ready over a store it cannot use.
import { type Kysely, sql } from "kysely";
import type { Database } from "./database.js";
import { MIGRATION_NAMES } from "./migrate.js";
import type { Schema } from "./schema.js";

/** The database cannot be served by this version; `message` says why and what to do. */
export class SchemaCheckError extends Error {}

/** Tables every request path needs (the migrations create them). */
export const REQUIRED_TABLES = [
  "rollouts",
  "host_rollout_records",
  "event_log",
  "quarantined_closures",
  "probe_failures",
  "cert_revocations",
] as const;

/**
 * Before migrating: migrations recorded in the database that this version does not know mean
 * a newer nixfleet-cp migrated it, and this one would misread its tables.
 */
export async function checkNoNewerMigrations(database: Database): Promise<void> {
  let names: string[];
  try {
    const rows = await database.db
      .withTables<{ kysely_migration: { name: string } }>()
      .selectFrom("kysely_migration")
      .select("name")
      .execute();
    names = rows.map((r) => r.name);
  } catch {
    return; // no bookkeeping table yet: a fresh database
  }
  const known = new Set<string>(MIGRATION_NAMES);
  const unknown = names.filter((n) => !known.has(n)).sort();
  if (unknown.length > 0) {
    throw new SchemaCheckError(
      `the database was migrated by a newer nixfleet-cp (unknown migrations: ${unknown.join(", ")}; this version knows up to ${MIGRATION_NAMES[MIGRATION_NAMES.length - 1]}); refusing to start: run the newer version, or point --db at another database`,
    );
  }
}

/** After migrating: every table exists and the store takes writes. */
export async function checkSchemaUsable(database: Database): Promise<void> {
  const missing: string[] = [];
  for (const table of REQUIRED_TABLES) {
    try {
      await database.db
        .selectFrom(table)
        .select((eb) => eb.lit(1).as("one"))
        .limit(0)
        .execute();
    } catch {
      missing.push(table);
    }
  }
  if (missing.length > 0) {
    throw new SchemaCheckError(
      `the database is missing table(s) ${missing.join(", ")} although its migrations are recorded as applied; refusing to start: restore the database from a backup, or point --db at another database`,
    );
  }
  try {
    await writeProbe(database);
  } catch (error) {
    throw new SchemaCheckError(
      `the database does not take writes (${(error as Error).message}); refusing to start: check the file's permissions and filesystem, or the PostgreSQL role's privileges and that it is not a read-only replica`,
    );
  }
}

// A write that changes nothing, rolled back: it needs the same rights an event's commit does.
async function writeProbe(database: Database): Promise<void> {
  if (database.kind === "sqlite") {
    await database.db.connection().execute(async (connection) => {
      const raw = database.raw;
      raw.exec("begin immediate");
      try {
        await probeWrites(connection);
      } finally {
        if (raw.inTransaction) raw.exec("rollback");
      }
    });
    return;
  }
  await database.db
    .transaction()
    .execute(async (trx) => {
      await sql`lock table event_log, host_rollout_records in row exclusive mode`.execute(trx);
      await probeWrites(trx);
      // Roll back on purpose: nothing of the probe may stay.
      throw new RolledBack();
    })
    .catch((error: unknown) => {
      if (!(error instanceof RolledBack)) throw error;
    });
}

class RolledBack extends Error {}

// Deletes and updates nothing, with the rights a batch's commit needs.
async function probeWrites(db: Kysely<Schema>): Promise<void> {
  await db.deleteFrom("event_log").where("id", "=", -1).execute();
  await db
    .updateTable("host_rollout_records")
    .set((eb) => ({ state: eb.ref("state") }))
    .where(sql.lit(false))
    .execute();
}
