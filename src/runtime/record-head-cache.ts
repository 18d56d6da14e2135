// The reducer's own view of each record's head (state and last seq) after every commit, so
// the handler's duplicate check needs no database read for hosts it has already seen.
import type { HostState } from "../core/domain.js";

/** A record's state and last applied seq, as committed. */
export interface CachedHead {
  readonly state: HostState;
  readonly lastEventSeq: number;
}

/** A bounded map of committed heads; only the single writer fills it. */
export interface RecordHeadCache {
  get(rolloutId: string, hostname: string): CachedHead | undefined;
  /** Records a committed head; a lower seq than the cached one is ignored. */
  set(rolloutId: string, hostname: string, head: CachedHead): void;
  readonly size: number;
}

/**
 * Creates a cache of at most `maxEntries` heads (it starts over when full: a miss only costs
 * one database read). Entries come from commits or database reads, so a cached seq is never
 * ahead of the database; with one writer process it is exact.
 */
export function createRecordHeadCache(maxEntries: number): RecordHeadCache {
  let heads = new Map<string, CachedHead>();
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
