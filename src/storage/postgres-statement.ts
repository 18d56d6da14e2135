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

/**
 * Runs `statement` with `args` on a client as a named prepared statement (parsed once per
 * connection); call `planEveryRun(client)` first where it runs more than a few times.
 */
export function runPostgresStatement<A, O extends pg.QueryResultRow>(
  client: pg.ClientBase,
  statement: PostgresStatement<A, O>,
  args: A,
): Promise<pg.QueryResult<O>> {
  return client.query<O>({
    name: statement.name,
    text: statement.sql,
    values: statement.bind(args),
  });
}

/** Runs `statement` with `args` on any pooled connection, unnamed (planned for these values). */
export function queryPostgresStatement<A, O extends pg.QueryResultRow>(
  pool: pg.Pool,
  statement: CompiledStatement<A, O>,
  args: A,
): Promise<pg.QueryResult<O>> {
  return pool.query<O>({ text: statement.sql, values: statement.bind(args) });
}

// A prepared statement switches to a generic plan after five runs, and one made while the
// tables were small (a seq scan) got slower with every batch (5 ms to 240 ms per lock query
// over 32 batches of 512): re-planning each run costs ~0.3 ms; the parse it still saves is
// what naming buys.
const PLAN_EVERY_RUN = "set plan_cache_mode = force_custom_plan";
const planned = new WeakSet<pg.ClientBase>();

/**
 * Makes `client`'s session re-plan named statements on every run, once per connection (one
 * round trip the first time). A server without the setting (< 12) keeps its default.
 */
export async function planEveryRun(client: pg.ClientBase): Promise<void> {
  if (planned.has(client)) return;
  await client.query(PLAN_EVERY_RUN).catch((error: { code?: string }) => {
    // 42704: unrecognized configuration parameter (PostgreSQL < 12).
    if (error.code !== "42704") throw error;
  });
  planned.add(client);
}
