// Runs the schema migrations with Kysely's Migrator and an in-code provider, so they behave
// the same under tsx, in a build and in tests (no directory scanning).
import { type Migration, type MigrationProvider, Migrator } from "kysely";
import type { Database } from "./database.js";
import * as initial from "./migrations/0001-initial.js";
import type { DialectKind } from "./schema.js";

/** The migrations in order; a migration's name is its file name and must never change. */
const MIGRATIONS = [["0001-initial", initial]] as const;

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

function migrator(database: Database): Migrator {
  return new Migrator({ db: database.db, provider: migrationProvider(database.kind) });
}

/** Applies every pending migration; returns the names applied (empty when up to date). */
export async function migrateToLatest(database: Database): Promise<string[]> {
  const { error, results } = await migrator(database).migrateToLatest();
  if (error !== undefined) throw error;
  return (results ?? []).map((r) => r.migrationName);
}

/** Reverts the latest applied migration; returns its name, or undefined when none was applied. */
export async function migrateDown(database: Database): Promise<string | undefined> {
  const { error, results } = await migrator(database).migrateDown();
  if (error !== undefined) throw error;
  return results?.[0]?.migrationName;
}
