// The cheapest round trip that proves the store answers and takes writes: a write lock taken
// and released on SQLite, `select 1` on PostgreSQL (whose pool reconnects by itself).
import type { Database } from "./database.js";

/** Resolves when the store answers; rejects with the store's error otherwise. */
export async function pingStore(database: Database): Promise<void> {
  if (database.kind === "sqlite") {
    await database.db.connection().execute(async () => {
      const raw = database.raw;
      if (raw.inTransaction) return;
      raw.exec("begin immediate");
      raw.exec("rollback");
    });
    return;
  }
  await database.db.selectNoFrom((eb) => eb.lit(1).as("one")).execute();
}
