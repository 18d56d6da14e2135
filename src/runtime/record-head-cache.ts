// The reducer's own view of each record's head (state and last seq) after every commit, so
// the handler's duplicate check needs no database read for hosts it has already seen.
import type { HeadLookup, RecordHead } from "../storage/record-head.js";

/** A bounded map of committed heads; only the single writer fills it. */
export interface RecordHeadCache {
  get(rolloutId: string, hostname: string): RecordHead | undefined;
  /** Records a committed head; a lower seq than the cached one is ignored. */
  set(rolloutId: string, hostname: string, head: RecordHead): void;
  readonly size: number;
}

/**
 * Creates a cache of at most `maxEntries` heads (it starts over when full: a miss only costs
 * one database read). Entries come from commits or database reads, so a cached seq is never
 * ahead of the database; with one writer process it is exact.
 */
export function createRecordHeadCache(maxEntries: number): RecordHeadCache {
  let heads = new Map<string, RecordHead>();
  const key = (rolloutId: string, hostname: string) => `${rolloutId}\u0000${hostname}`;
  return {
    get: (rolloutId, hostname) => heads.get(key(rolloutId, hostname)),
    set(rolloutId, hostname, head) {
      const k = key(rolloutId, hostname);
      const known = heads.get(k);
      if (known !== undefined && known.lastEventSeq > head.lastEventSeq) return;
      if (known === undefined && heads.size >= maxEntries) heads = new Map();
      heads.set(k, head);
    },
    get size() {
      return heads.size;
    },
  };
}

/** `read`, answered from `cache` when it can; synchronous reads fill the cache. */
export function cachedLookup(cache: RecordHeadCache, read: HeadLookup): HeadLookup {
  return (rolloutId, hostname) => {
    const cached = cache.get(rolloutId, hostname);
    if (cached !== undefined) return cached;
    const head = read(rolloutId, hostname);
    if (head !== undefined && !(head instanceof Promise)) cache.set(rolloutId, hostname, head);
    return head;
  };
}
