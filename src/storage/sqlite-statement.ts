// A compiled statement prepared once on a better-sqlite3 handle and run with named arguments:
// the SQLite hot paths' only way to execute query text (built by Kysely, see compiled-statement).
import type BetterSqlite3 from "better-sqlite3";
import type { CompiledStatement } from "./compiled-statement.js";

/** A prepared statement taking its arguments by name. */
export interface SqliteStatement<A, O> {
  run(args: A): BetterSqlite3.RunResult;
  get(args: A): O | undefined;
  all(args: A): O[];
}

/** Prepares `compiled` on `raw` (once: keep the result for the handle's lifetime). */
export function prepareSqliteStatement<A, O>(
  raw: BetterSqlite3.Database,
  compiled: CompiledStatement<A, O>,
): SqliteStatement<A, O> {
  const statement = raw.prepare(compiled.sql);
  const { bind } = compiled;
  return {
    run: (args) => statement.run(bind(args)),
    get: (args) => statement.get(bind(args)) as O | undefined,
    all: (args) => statement.all(bind(args)) as O[],
  };
}
