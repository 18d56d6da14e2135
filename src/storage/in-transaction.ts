// Lets a multi-statement repository function be atomic whether it was handed the Kysely
// instance (it opens a transaction) or a caller's transaction (it joins it).
import type { Kysely, Transaction } from "kysely";
import type { Schema } from "./schema.js";

/** A Kysely instance or a transaction: what every repository function takes first. */
export type Queryable = Kysely<Schema>;

/** Runs `fn` in `db` when it already is a transaction, else in a new one. */
export function inTransaction<T>(db: Queryable, fn: (trx: Queryable) => Promise<T>): Promise<T> {
  if (db.isTransaction) return fn(db);
  return db.transaction().execute((trx: Transaction<Schema>) => fn(trx));
}
