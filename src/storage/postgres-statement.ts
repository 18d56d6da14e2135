// A compiled statement run on PostgreSQL as a named prepared statement: each connection
// parses it once, then only binds; the PostgreSQL hot paths' only way to execute query text.
import { createHash } from "node:crypto";
import type pg from "pg";
import type { CompiledStatement } from "./compiled-statement.js";

/** A statement with the name its connections prepare it under. */
export interface PostgresStatement<A, O> extends CompiledStatement<A, O> {
  readonly name: string;
}

/**
 * Names `compiled` after its text, so two statements can never share a name and a changed
 * statement is never run under an old one's plan.
 */
export function namePostgresStatement<A, O>(
  compiled: CompiledStatement<A, O>,
): PostgresStatement<A, O> {
  const digest = createHash("sha256").update(compiled.sql).digest("hex").slice(0, 24);
  return { ...compiled, name: `nxfc_${digest}` };
}

/** Runs `statement` with `args` on a client (or the pool, for a single statement). */
export function runPostgresStatement<A, O extends pg.QueryResultRow>(
  client: pg.ClientBase | pg.Pool,
  statement: PostgresStatement<A, O>,
  args: A,
): Promise<pg.QueryResult<O>> {
  return client.query<O>({
    name: statement.name,
    text: statement.sql,
    values: statement.bind(args),
  });
}

/**
 * Session setting for connections that run named statements. A prepared statement switches
 * to a generic plan after five runs, and one made while the tables were small (a seq scan)
 * got slower with every batch (5 ms to 240 ms per lock query over 32 batches of 512):
 * re-planning each run costs ~0.3 ms, the parse it still saves is what naming buys.
 */
export const PLAN_EVERY_RUN = "set plan_cache_mode = force_custom_plan";
