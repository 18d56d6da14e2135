// A bounded FIFO between request handlers (many producers) and the reducer (one consumer).
// Producers never wait for space: trySend fails fast so the handler can shed load.

/** A bounded multi-producer, single-consumer queue. */
export interface BoundedChannel<T> {
  /** Maximum number of queued items. */
  readonly capacity: number;
  /** Items queued and not yet received. */
  readonly depth: number;
  /** Whether close() was called. */
  readonly closed: boolean;
  /** Queues an item, or returns false when the channel is full or closed. Never waits. */
  trySend(item: T): boolean;
  /**
   * Queues every item, in order, or none of them (returns false) when they do not all fit or
   * the channel is closed: a batch is never half-queued. Never waits.
   */
  trySendAll(items: readonly T[]): boolean;
  /**
   * Waits until at least one item is queued (or the channel is closed), then takes up to
   * `max` items in order. Resolves to an empty array only once closed and drained.
   */
  receive(max: number): Promise<T[]>;
  /** Refuses further sends; items already queued are still received. */
  close(): void;
}

/** Creates a bounded channel backed by a ring buffer of `capacity` slots. */
export function createBoundedChannel<T>(capacity: number): BoundedChannel<T> {
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new RangeError(`channel capacity must be a positive integer, got ${capacity}`);
  }
  const slots: (T | undefined)[] = new Array(capacity);
  let head = 0;
  let depth = 0;
  let closed = false;
  let waiter: (() => void) | undefined;

  function wake(): void {
    const w = waiter;
    waiter = undefined;
    w?.();
  }

  return {
    capacity,
    get depth() {
      return depth;
    },
    get closed() {
      return closed;
    },
    trySend(item) {
      if (closed || depth === capacity) return false;
      slots[(head + depth) % capacity] = item;
      depth++;
      if (waiter !== undefined) wake();
      return true;
    },
    trySendAll(items) {
      if (closed || depth + items.length > capacity) return false;
      for (const item of items) {
        slots[(head + depth) % capacity] = item;
        depth++;
      }
      if (items.length > 0 && waiter !== undefined) wake();
      return true;
    },
    async receive(max) {
      while (depth === 0 && !closed) {
        if (waiter !== undefined) throw new Error("BoundedChannel has a single consumer");
        await new Promise<void>((resolve) => {
          waiter = resolve;
        });
      }
      const n = Math.min(max, depth);
      const out = new Array<T>(n);
      for (let i = 0; i < n; i++) {
        out[i] = slots[head] as T;
        slots[head] = undefined;
        head = (head + 1) % capacity;
      }
      depth -= n;
      return out;
    },
    close() {
      closed = true;
      wake();
    },
  };
}
