// Every write the service makes, behind one object: on a SQLite file through the writer
// thread (off the event loop), otherwise on the database's own connection.
import type { Instant } from "../core/instant.js";
import type { StepLimits } from "../core/step.js";
import { type BatchApplier, createBatchApplier } from "./apply-batch.js";
import { type Database, parseDatabaseUrl } from "./database.js";
import { type OpenRolloutRequest, type OpenRolloutResult, openRollout } from "./open-rollout.js";
import { pingStore } from "./ping-store.js";
import { type Revocation, upsertRevocations } from "./revocations.js";
import { createSqliteWriterThread } from "./sqlite-writer-thread.js";

/** The reducer's applier and the service's other writes. */
export interface StoreWriter extends BatchApplier {
  openRollout(request: OpenRolloutRequest, now: Instant): Promise<OpenRolloutResult>;
  upsertRevocations(entries: readonly Revocation[]): Promise<number>;
  /** The store probe: proves the store (and the writer thread, if any) takes writes. */
  ping(): Promise<void>;
  /** Waits for the writes in flight and ends the writer thread, if any. */
  close(): Promise<void>;
}

export interface StoreWriterOptions {
  readonly limits?: StepLimits;
  /** Hears the writer thread ending unexpectedly (its calls in flight failed as an outage). */
  readonly onExit?: (error: Error) => void;
}

/**
 * The writer for `database`, opened from `url`. A SQLite file gets a writer thread: one write
 * on the service's own connection would wait synchronously for the thread's lock, so every
 * write goes there. PostgreSQL waits asynchronously and `:memory:` cannot be shared between
 * threads: both write on `database`.
 */
export function createStoreWriter(
  database: Database,
  url: string,
  options: StoreWriterOptions = {},
): StoreWriter {
  const target = parseDatabaseUrl(url);
  if (target.kind === "sqlite" && target.path !== ":memory:") {
    return createSqliteWriterThread({ url, ...options });
  }
  return {
    ...createBatchApplier(database, options.limits),
    openRollout: (request, now) => openRollout(database.db, request, now),
    upsertRevocations: (entries) => upsertRevocations(database.db, entries),
    ping: () => pingStore(database),
    close: async () => {},
  };
}
