// The reducer's write path (SPEC §6, issue 4): a batch of events applied in ONE transaction,
// each through the pure core's step(), with the record, the event log and the derived rows
// committed together. The dialect writers live beside it; the planning in plan-batch.ts.
import type { Instant } from "../core/instant.js";
import type { StepLimits } from "../core/step.js";
import { createPostgresWriter } from "./apply-batch-postgres.js";
import { createSqliteWriter } from "./apply-batch-sqlite.js";
import type { Database } from "./database.js";
import type { BatchItem, BatchOutcome, WorkItem, WorkOutcome } from "./plan-batch.js";

export type {
  BatchItem,
  BatchOutcome,
  HeartbeatItem,
  HeartbeatOutcome,
  HostLiveness,
  SignedForm,
  Transition,
  WorkItem,
  WorkOutcome,
} from "./plan-batch.js";
export { isHeartbeatItem } from "./plan-batch.js";

/** Applies batches; see createBatchApplier. */
export interface BatchApplier {
  /**
   * One outcome per item, in order. Rejects (and the transaction is rolled back, nothing
   * written) when anything fails; the caller then fails every request of the batch.
   */
  applyBatch(items: readonly BatchItem[], now: Instant): Promise<BatchOutcome[]>;
  /** applyBatch over events and heartbeats alike, in one transaction. */
  applyWork(items: readonly WorkItem[], now: Instant): Promise<WorkOutcome[]>;
}

/**
 * The batch applier for an open database. On SQLite it runs on better-sqlite3 statements
 * prepared once; on PostgreSQL on one pooled client per batch with a constant number of
 * round trips. Both produce the same outcomes and rows.
 */
export function createBatchApplier(database: Database, limits?: StepLimits): BatchApplier {
  const applyWork =
    database.kind === "sqlite"
      ? createSqliteWriter(database, limits)
      : createPostgresWriter(database, limits);
  return {
    applyWork,
    // Events alone yield event outcomes only.
    applyBatch: applyWork as BatchApplier["applyBatch"],
  };
}

/** A dialect's writer: applies a batch of work in one transaction. */
export type WorkWriter = BatchApplier["applyWork"];
