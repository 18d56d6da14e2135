// The single writer: drains the channel in batches, commits each batch through the store in
// one transaction, and only then settles every waiting request with its own verdict.
import { performance } from "node:perf_hooks";
import type { BoundedChannel } from "./bounded-channel.js";

/** What a waiting request learns once its batch is decided. */
export type Settlement<O> =
  | { readonly ok: true; readonly outcome: O }
  | { readonly ok: false; readonly error: unknown };

/** One accepted item waiting for its verdict. */
export interface PendingItem<I, O> {
  readonly item: I;
  /** performance.now() when the item was queued, for the reducer-lag metric. */
  readonly enqueuedAt: number;
  settle(settlement: Settlement<O>): void;
  /**
   * Asked just before the item's batch is applied: a settlement here settles the item with it
   * and leaves it out of the batch. PostEvents uses it so that once an event of a rollout
   * failed to commit, the call's later events of that rollout are not applied ahead of it.
   */
  skip?(): Settlement<O> | undefined;
}

/** Measurements of one committed (or failed) batch. */
export interface BatchReport {
  readonly size: number;
  readonly commitSeconds: number;
  /** Time the oldest item of the batch waited in the channel. */
  readonly lagSeconds: number;
  readonly failed: boolean;
}

export interface ReducerOptions<I, O> {
  readonly channel: BoundedChannel<PendingItem<I, O>>;
  /** Applies a batch atomically; resolves with one outcome per item, in order. */
  readonly apply: (items: readonly I[]) => Promise<readonly O[]>;
  /** Upper bound on items per transaction. */
  readonly batchSize: number;
  /** Called after every batch, committed or not. */
  readonly onBatch?: (report: BatchReport) => void;
  /** Called after a batch committed, before its requests are settled. */
  readonly onCommitted?: (items: readonly I[], outcomes: readonly O[]) => void;
  /** Called when a commit fails for good; every request of that (sub-)batch is then failed. */
  readonly onError?: (error: unknown, size: number) => void;
  /** True when a commit failed because of the data of some item (then the batch is split). */
  readonly isDataError?: (error: unknown) => boolean;
  /** Artificial pause before each batch; only for tests that need a slow reducer. */
  readonly delayMs?: number;
}

/** The running reducer. */
export interface Reducer {
  /** Resolves when the channel is closed and everything accepted has been settled. */
  readonly done: Promise<void>;
}

/** Requests answered per turn of the event loop after a commit. */
const SETTLE_SLICE = 16;

/** Starts the reducer loop over a channel. Close the channel to drain and stop it. */
export function startReducer<I, O>(options: ReducerOptions<I, O>): Reducer {
  const { channel, apply, batchSize, onBatch, onCommitted, onError, delayMs = 0 } = options;
  const isDataError = options.isDataError ?? (() => false);

  async function run(): Promise<void> {
    for (;;) {
      // The first send wakes the reducer before the requests that came with it are parsed
      // (and a store committing on this thread, SQLite :memory:, leaves everything that
      // arrived meanwhile unread in the sockets). Let the event loop poll them (and their
      // handlers queue them) before taking the next batch; without this the reducer
      // commits one event per transaction under any load. But when a full batch
      // is already queued, polling would not make it bigger: it would only parse requests
      // that find the channel full and are shed, at nearly the cost of applying them.
      if (channel.depth < batchSize) await new Promise<void>((resolve) => setImmediate(resolve));
      const batch = await channel.receive(batchSize);
      if (batch.length === 0) return;
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      await commit(batch);
    }
  }

  // A batch whose commit fails because of one event's data (a value the store refuses) is
  // split in halves and each half retried, down to the offending events, so one poison pill
  // never fails its neighbours. Any other failure (an outage) fails the batch at once:
  // retrying halves against a store that is down would only multiply the load.
  async function commit(taken: PendingItem<I, O>[]): Promise<void> {
    // Skips are asked here, after every earlier (sub-)batch was settled, so a failure settled
    // there is seen by the items that depend on it, halves of a split batch included.
    const batch = taken.filter((p) => {
      const skipped = p.skip?.();
      if (skipped !== undefined) p.settle(skipped);
      return skipped === undefined;
    });
    if (batch.length === 0) return;
    const started = performance.now();
    const items = batch.map((p) => p.item);
    let outcomes: readonly O[];
    try {
      outcomes = await apply(items);
      if (outcomes.length !== items.length) {
        throw new Error(`store returned ${outcomes.length} outcomes for ${items.length} items`);
      }
    } catch (error) {
      report(batch, started, true);
      if (batch.length > 1 && isDataError(error)) {
        const half = Math.ceil(batch.length / 2);
        await commit(batch.slice(0, half));
        await commit(batch.slice(half));
        return;
      }
      onError?.(error, batch.length);
      for (const p of batch) p.settle({ ok: false, error });
      return;
    }
    report(batch, started, false);
    try {
      onCommitted?.(items, outcomes);
    } finally {
      await settleInSlices(batch, outcomes);
    }
  }

  // Settling wakes each request's handler, which encodes and writes its answer in the same
  // turn: a 256-event batch settled at once held the event loop for tens of milliseconds,
  // stalling every socket's parsing. Slices with a turn of the loop between them keep each
  // stall short; the answers still all follow the commit.
  async function settleInSlices(batch: PendingItem<I, O>[], outcomes: readonly O[]) {
    for (let start = 0; start < batch.length; start += SETTLE_SLICE) {
      if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const end = Math.min(batch.length, start + SETTLE_SLICE);
      for (let i = start; i < end; i++) {
        (batch[i] as PendingItem<I, O>).settle({ ok: true, outcome: outcomes[i] as O });
      }
    }
  }

  function report(batch: PendingItem<I, O>[], started: number, failed: boolean): void {
    if (onBatch === undefined) return;
    const now = performance.now();
    onBatch({
      size: batch.length,
      commitSeconds: (now - started) / 1000,
      lagSeconds: (started - (batch[0]?.enqueuedAt ?? started)) / 1000,
      failed,
    });
  }

  return { done: run() };
}
