// The PostgreSQL schema unqualified table names resolve to: where the migrations put the
// tables, and what migration 0004's NOTIFY names.
import type { Kysely } from "kysely";
import type pg from "pg";
import { compileStatement, statementBuilder } from "./compiled-statement.js";
import { namePostgresStatement, runPostgresStatement } from "./postgres-statement.js";
import type { Schema } from "./schema.js";

function selectCurrentSchema(db: Kysely<Schema>) {
  return db.selectNoFrom((eb) => eb.fn<string | null>("current_schema").as("schema"));
}

const CURRENT_SCHEMA = namePostgresStatement(
  compileStatement(() => selectCurrentSchema(statementBuilder("postgres"))),
);

/** The current schema through Kysely; null when search_path names no existing schema. */
export async function currentSchema(db: Kysely<Schema>): Promise<string | null> {
  return (await selectCurrentSchema(db).executeTakeFirst())?.schema ?? null;
}

/** The current schema of a bare client (one outside the pool, e.g. a LISTEN connection). */
export async function clientCurrentSchema(client: pg.ClientBase): Promise<string | null> {
  return (await runPostgresStatement(client, CURRENT_SCHEMA, {})).rows[0]?.schema ?? null;
}
