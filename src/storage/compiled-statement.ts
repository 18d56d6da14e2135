// Kysely statements compiled once with named placeholders and bound per run: the hot paths
// keep the typed builder (a wrong column fails tsc) without paying Kysely's compile per query.
import {
  type Compilable,
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from "kysely";
import type { DialectKind, Schema } from "./schema.js";

/** What a placeholder stands for at compile time: the name of the argument bound later. */
class Placeholder {
  constructor(readonly name: string) {}
}

/**
 * A statement compiled once. `sql` is the dialect's text with its own placeholders (`?` on
 * SQLite, `$n` on PostgreSQL); `bind` lays out one run's arguments in their order.
 */
export interface CompiledStatement<A, O> {
  readonly sql: string;
  bind(args: A): unknown[];
  /** Phantom: the row type the builder declared, for the runners. */
  readonly row?: O;
}

/**
 * Compiles `build`'s query once. `build` receives `p`, whose every property (`p.hostname`)
 * is a placeholder typed as that argument, used wherever the builder takes a value; the
 * builder's other values (limits, literals) stay constants. A placeholder must stand for a
 * whole value: the builder must not look inside it (pass arrays through `eb.val` / `sql.val`).
 */
export function compileStatement<A extends object, O>(
  build: (p: A) => Compilable<O>,
): CompiledStatement<A, O> {
  const p = new Proxy({} as A, {
    get: (_, name) => {
      if (typeof name !== "string") throw new TypeError("placeholders are named by strings");
      return new Placeholder(name);
    },
  });
  const { sql, parameters } = build(p).compile();
  // A placeholder the builder inlined (or stringified) instead of binding would run as text.
  if (sql.includes("[object Object]")) {
    throw new Error(`a placeholder was inlined into the statement: ${sql}`);
  }
  const names = parameters.map((v) => (v instanceof Placeholder ? v.name : undefined));
  const constants = [...parameters];
  const count = names.length;
  return {
    sql,
    bind(args: A): unknown[] {
      const values = new Array<unknown>(count);
      const source = args as Record<string, unknown>;
      for (let i = 0; i < count; i++) {
        const name = names[i];
        values[i] = name === undefined ? constants[i] : source[name];
      }
      return values;
    },
  };
}

/**
 * The placeholders of `columns` as a row, for `.values()` / `.set()`: a column the table
 * lacks fails tsc twice, here (not a key of the arguments) and in the builder.
 */
export function placeholderRow<A, K extends keyof A>(p: A, columns: readonly K[]): Pick<A, K> {
  const row = {} as Pick<A, K>;
  for (const c of columns) row[c] = p[c];
  return row;
}

const builders = new Map<DialectKind, Kysely<Schema>>();

/**
 * A Kysely that only compiles (it has no connection): statements can be built at import time
 * and prepared on any handle of the dialect, a worker thread's included.
 */
export function statementBuilder(kind: DialectKind): Kysely<Schema> {
  let db = builders.get(kind);
  if (db === undefined) {
    db = new Kysely<Schema>({
      dialect:
        kind === "sqlite"
          ? {
              createAdapter: () => new SqliteAdapter(),
              createDriver: () => new DummyDriver(),
              createIntrospector: (k) => new SqliteIntrospector(k),
              createQueryCompiler: () => new SqliteQueryCompiler(),
            }
          : {
              createAdapter: () => new PostgresAdapter(),
              createDriver: () => new DummyDriver(),
              createIntrospector: (k) => new PostgresIntrospector(k),
              createQueryCompiler: () => new PostgresQueryCompiler(),
            },
    });
    builders.set(kind, db);
  }
  return db;
}
