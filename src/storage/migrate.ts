// Runs the schema migrations with Kysely's Migrator and an in-code provider, so they behave
// the same under tsx, in a build and in tests (no directory scanning).
import { type Migration, type MigrationProvider, Migrator } from "kysely";
import { currentSchema } from "./current-schema.js";
import type { Database } from "./database.js";
import * as initial from "./migrations/0001-initial.js";
import * as heartbeat from "./migrations/0002-heartbeat.js";
import * as refusals from "./migrations/0003-refusals-and-signed-forms.js";
import * as commitOrderedEventIds from "./migrations/0004-commit-ordered-event-ids.js";
import type { DialectKind } from "./schema.js";

/** The migrations in order; a migration's name is its file name and must never change. */
const MIGRATIONS = [
  ["0001-initial", initial],
  ["0002-heartbeat", heartbeat],
  ["0003-refusals-and-signed-forms", refusals],
  ["0004-commit-ordered-event-ids", commitOrderedEventIds],
] as const;

/** The names of the migrations this version knows, oldest first. */
export const MIGRATION_NAMES: readonly string[] = MIGRATIONS.map(([name]) => name);

/** A provider that hands Kysely this module's migrations, bound to one dialect. */
export function migrationProvider(kind: DialectKind): MigrationProvider {
  return {
    async getMigrations(): Promise<Record<string, Migration>> {
      const out: Record<string, Migration> = {};
      for (const [name, m] of MIGRATIONS) {
        out[name] = { up: (db) => m.up(db, kind), down: (db) => m.down(db, kind) };
      }
      return out;
    },
  };
}

// Migration numbers are handed out to work that lands in any order (0004 landed before 0003):
// a database that already ran a later-numbered migration must still take an earlier one
// that arrives after it. Each is written not to depend on its unnumbered neighbours, and
// --down still reverts the last one applied.
const ALLOW_UNORDERED = true;

async function migrator(database: Database): Promise<Migrator> {
  const provider = migrationProvider(database.kind);
  const allowUnorderedMigrations = ALLOW_UNORDERED;
  if (database.kind === "sqlite") {
    return new Migrator({ db: database.db, provider, allowUnorderedMigrations });
  }
  // Kysely looks for its bookkeeping tables in every schema of the database; with the
  // schema left implicit, another schema's kysely_migration (another app, a parallel test)
  // makes it skip creating ours. Naming the schema the tables go to avoids that.
  const schema = await currentSchema(database.db);
  if (schema === null) {
    throw new Error("PostgreSQL search_path names no existing schema to migrate");
  }
  return new Migrator({
    db: database.db,
    provider,
    migrationTableSchema: schema,
    allowUnorderedMigrations,
  });
}

/** Applies every pending migration; returns the names applied (empty when up to date). */
export async function migrateToLatest(database: Database): Promise<string[]> {
  const { error, results } = await (await migrator(database)).migrateToLatest();
  if (error !== undefined) throw error;
  return (results ?? []).map((r) => r.migrationName);
}

/** Reverts the latest applied migration; returns its name, or undefined when none was applied. */
export async function migrateDown(database: Database): Promise<string | undefined> {
  const { error, results } = await (await migrator(database)).migrateDown();
  if (error !== undefined) throw error;
  return results?.[0]?.migrationName;
}
