// The reducer's write path (SPEC §6, issue 4): a batch of events applied in ONE transaction,
// each through the pure core's step(), with the record, the event log and the derived rows
// committed together. The dialect writers live beside it; the planning in plan-batch.ts.
import type { Instant } from "../core/instant.js";
import { createPostgresWriter } from "./apply-batch-postgres.js";
import { createSqliteWriter } from "./apply-batch-sqlite.js";
import type { Database } from "./database.js";
import type { BatchItem, BatchOutcome } from "./plan-batch.js";

export type { BatchItem, BatchOutcome, Transition } from "./plan-batch.js";

/** Applies batches; see createBatchApplier. */
export interface BatchApplier {
  /**
   * One outcome per item, in order. Rejects (and the transaction is rolled back, nothing
   * written) when anything fails; the caller then fails every request of the batch.
   */
  applyBatch(items: readonly BatchItem[], now: Instant): Promise<BatchOutcome[]>;
}

/**
 * The batch applier for an open database. On SQLite it runs on better-sqlite3 statements
 * prepared once; on PostgreSQL on one pooled client per batch with a constant number of
 * round trips. Both produce the same outcomes and rows.
 */
export function createBatchApplier(database: Database): BatchApplier {
  return database.kind === "sqlite" ? createSqliteWriter(database) : createPostgresWriter(database);
}
