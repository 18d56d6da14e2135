// Fans committed host state changes out to WatchRollout streams of the same process, after
// the commit and before the posting agents are answered.
import type { HostRolloutRecord, HostState } from "../core/domain.js";
import type { Instant } from "../core/instant.js";

/** One committed state change of one host. */
export interface HostChange {
  readonly rolloutId: string;
  readonly hostname: string;
  readonly from: HostState;
  readonly to: HostState;
  readonly at: Instant;
  readonly eventLogId: number;
  readonly record: HostRolloutRecord;
}

/** Publish/subscribe of host changes keyed by rollout. */
export interface WatchHub {
  publish(change: HostChange): void;
  /** Listens to one rollout's changes; returns the function that stops listening. */
  subscribe(rolloutId: string, listener: (change: HostChange) => void): () => void;
  /**
   * Resolves once every change of a subscribed rollout that commits from now on will be
   * published; rejects when that cannot be promised (the store is unreachable). Read the
   * snapshot a watch starts with only after it. The in-process hub is always ready.
   */
  ready(rolloutId: string): Promise<void>;
  /** Number of open subscriptions. */
  readonly size: number;
}

/** Creates an in-process hub. */
export function createWatchHub(): WatchHub {
  const byRollout = new Map<string, Set<(change: HostChange) => void>>();
  let size = 0;
  return {
    publish(change) {
      const listeners = byRollout.get(change.rolloutId);
      if (listeners === undefined) return;
      for (const listener of listeners) listener(change);
    },
    subscribe(rolloutId, listener) {
      let listeners = byRollout.get(rolloutId);
      if (listeners === undefined) {
        listeners = new Set();
        byRollout.set(rolloutId, listeners);
      }
      listeners.add(listener);
      size++;
      return () => {
        if (listeners.delete(listener)) size--;
        if (listeners.size === 0) byRollout.delete(rolloutId);
      };
    },
    ready: () => Promise.resolve(),
    get size() {
      return size;
    },
  };
}
