// Opens the store from a URL or path: better-sqlite3 (embedded default) or a pg Pool, both
// behind one Kysely<Schema>, plus the raw handle the hot path uses.
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { Schema } from "./schema.js";
import { createSqliteDialect } from "./sqlite-dialect.js";

/**
 * An open SQLite store. `raw` is the same connection Kysely uses. Open one per file per
 * process: better-sqlite3 waits for locks synchronously, so a second handle in the same
 * process would block the event loop the first one needs to finish its transaction.
 */
export interface SqliteDatabase {
  readonly kind: "sqlite";
  readonly db: Kysely<Schema>;
  readonly raw: BetterSqlite3.Database;
  close(): Promise<void>;
}

/** An open PostgreSQL store. `pool` is the pool Kysely uses. */
export interface PostgresDatabase {
  readonly kind: "postgres";
  readonly db: Kysely<Schema>;
  readonly pool: pg.Pool;
  /** One connection, for the reducer's batches only (so they never queue behind reads). */
  readonly writerPool: pg.Pool;
  close(): Promise<void>;
}

/** An open store on either dialect. */
export type Database = SqliteDatabase | PostgresDatabase;

/** Where a database URL points. */
export type DatabaseTarget =
  | { readonly kind: "sqlite"; readonly path: string }
  | { readonly kind: "postgres"; readonly url: string };

/**
 * Reads a database URL: `postgres://` / `postgresql://` → PostgreSQL; `sqlite:<path>`,
 * `sqlite://<path>`, `:memory:` or a bare file path → SQLite. Any other `scheme://` is an
 * error rather than a file of that odd name.
 */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  if (/^postgres(?:ql)?:\/\//i.test(url)) return { kind: "postgres", url };
  if (/^sqlite:/i.test(url)) {
    const rest = url.slice("sqlite:".length);
    const path = rest.startsWith("//") ? rest.slice(2) : rest;
    if (path === "") throw new RangeError(`database URL ${url} names no file`);
    return { kind: "sqlite", path };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new RangeError(`unsupported database URL scheme in ${url}`);
  }
  if (url === "") throw new RangeError("empty database URL");
  return { kind: "sqlite", path: url };
}

/**
 * Opens the database at `url` (see parseDatabaseUrl). PostgreSQL is connected eagerly so an
 * unreachable server fails here, not at the first request. Does not migrate.
 */
export async function createDatabase(url: string): Promise<Database> {
  const target = parseDatabaseUrl(url);
  return target.kind === "postgres" ? openPostgres(target.url) : openSqlite(target.path);
}

function openSqlite(path: string): SqliteDatabase {
  // better-sqlite3 would say only "directory does not exist"; a typo in a path is more likely
  // than a directory to create, so nothing is created here.
  const dir = dirname(resolve(path));
  if (path !== ":memory:" && !existsSync(dir)) {
    throw new Error(
      `SQLite database ${path}: directory ${dir} does not exist; create it or fix the path`,
    );
  }
  const raw = new BetterSqlite3(path);
  try {
    raw.pragma("journal_mode = WAL");
    // better-sqlite3 defaults WAL to NORMAL, which can lose acknowledged commits on power
    // loss; a success reply must mean durable (SPEC §6).
    raw.pragma("synchronous = FULL");
    raw.pragma("busy_timeout = 5000");
    raw.pragma("foreign_keys = ON");
    raw.defaultSafeIntegers(true);
  } catch (error) {
    raw.close();
    throw error;
  }
  const db = new Kysely<Schema>({ dialect: createSqliteDialect(raw) });
  let closed = false;
  return {
    kind: "sqlite",
    db,
    raw,
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
      // Kysely closes the handle only if it was ever used.
      if (raw.open) raw.close();
    },
  };
}

const INT8_OID = 20;

/** int8 as number: every id and seq fits in 2^53-1; a larger value is a bug, not data. */
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${text} exceeds 2^53-1`);
  return n;
}

/** Per-pool type parsers, so the process-wide pg.types stay untouched for other users. */
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8_OID && format !== "binary"
      ? parseInt8
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig["getTypeParser"],
};

/** A pool on `url` that survives its connections' errors (see the listeners). */
function createPool(url: string, max: number): pg.Pool {
  // A bounded connect wait: with the server unreachable (not refusing), a checkout would
  // otherwise wait forever and every request with it.
  const pool = new pg.Pool({
    connectionString: url,
    types: TYPES,
    connectionTimeoutMillis: 5000,
    keepAlive: true,
    max,
  });
  // An idle client's error (server restart, network) is emitted on the pool and would crash
  // the process if unheard; the next checkout fails and reports it instead.
  pool.on("error", () => {});
  // A checked-out client whose server goes away (admin shutdown, 57P01) between queries emits
  // 'error' with no listener of the pool's: that crashed the process during an outage. Its
  // next query fails instead, and the pool drops it on release.
  pool.on("connect", (client) => client.on("error", () => {}));
  return pool;
}

async function openPostgres(url: string): Promise<PostgresDatabase> {
  const pool = createPool(url, 10);
  // The reducer's batches get a connection of their own: queued behind the pool's reads (a
  // duplicate check per request, hundreds at peak) each batch waited tens of milliseconds
  // for a checkout, and with it every request of the batch.
  const writerPool = createPool(url, 1);
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    await Promise.all([pool.end(), writerPool.end()]);
    throw error;
  }
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  let closed = false;
  return {
    kind: "postgres",
    db,
    pool,
    writerPool,
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
      if (!pool.ended) await pool.end();
      if (!writerPool.ended) await writerPool.end();
    },
  };
}
