// The Kysely dialect over our better-sqlite3 handle: a bounded statement cache (Kysely's
// driver calls prepare() for every query, ~7 us each) and transactional migrations.
import type BetterSqlite3 from "better-sqlite3";
import {
  type DialectAdapter,
  type SqliteDatabase as KyselySqliteDatabase,
  SqliteAdapter,
  SqliteDialect,
} from "kysely";

const MAX_STATEMENTS = 256;

/** Wraps a better-sqlite3 handle for SqliteDialect with a bounded statement cache. */
export function cachingSqlite(raw: BetterSqlite3.Database): KyselySqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    prepare(sql: string) {
      const hit = cache.get(sql);
      // A statement still iterating (a streamed query) cannot be re-entered.
      if (hit !== undefined && !hit.busy) return hit;
      const statement = raw.prepare(sql);
      if (hit === undefined) {
        // Maps iterate in insertion order: dropping the first entry evicts the oldest.
        if (cache.size >= MAX_STATEMENTS) cache.delete(cache.keys().next().value as string);
        cache.set(sql, statement);
      }
      return statement;
    },
    close() {
      cache.clear();
      raw.close();
    },
  };
}

// SQLite does run DDL inside transactions; Kysely's adapter just says it does not, so its
// Migrator would run each statement in autocommit: a crash mid-migration would leave half
// a schema, and every statement would pay its own fsync.
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class StoreSqliteDialect extends SqliteDialect {
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

/** The dialect Kysely uses for a store's SQLite handle. */
export function createSqliteDialect(raw: BetterSqlite3.Database): SqliteDialect {
  return new StoreSqliteDialect({ database: cachingSqlite(raw) });
}
