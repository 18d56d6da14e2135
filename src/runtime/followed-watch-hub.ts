// On PostgreSQL the watch hub is fed from the event log, not from this process's commits:
// every replica follows the same commit-ordered log, so a watch on any replica sees every
// replica's changes, in commit order, exactly once.
import type { HealthFailurePolicy, HostRolloutRecord } from "../core/domain.js";
import { step } from "../core/step.js";
import type { Queryable } from "../storage/in-transaction.js";
import { lastEventId, listEvents } from "../storage/list-events.js";
import { listRecords, type RecordKey } from "../storage/list-records.js";
import { getRollout } from "../storage/rollout.js";
import { createWatchHub, type WatchHub } from "./watch-hub.js";

/** A hub that publishes what it reads from the log. */
export interface FollowedWatchHub extends WatchHub {
  /**
   * Something may have committed (a local batch, a NOTIFY from another replica, a
   * reconnection): read the log of every watched rollout from its cursor. Cheap to repeat;
   * pokes during a read coalesce into one more read.
   */
  poke(): void;
  /** Stops following; watches still waiting to be ready are refused. Idempotent. */
  close(): Promise<void>;
}

export interface FollowedWatchHubOptions {
  readonly db: Queryable;
  /** A read of the log failed (it is retried with backoff) or did not replay (reloaded). */
  readonly onError: (error: unknown, rolloutId: string) => void;
  /** Events read per query (default 1000). */
  readonly pageSize?: number;
  /** Longest pause between retries of a failed read (default 5000 ms). */
  readonly maxRetryMs?: number;
}

/** A watched rollout: its records as of `cursor`, the last log id applied to them. */
interface FollowState {
  cursor: number;
  readonly policy: HealthFailurePolicy;
  readonly records: Map<string, HostRolloutRecord>;
}

interface Followed {
  subscribers: number;
  state: FollowState | undefined;
  /** Settled once, when the first load succeeds or fails. */
  loaded: boolean;
  readonly ready: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function newFollowed(): Followed {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const ready = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody may be waiting any more when it fails (the watch ended first).
  ready.catch(() => {});
  return { subscribers: 0, state: undefined, loaded: false, ready, resolve, reject };
}

/**
 * Creates the hub. Each watched rollout is loaded once (its policy and records, reading the
 * last log id FIRST so the records reflect at least that much), then every later log event
 * is replayed through the pure `step` with its recorded time: that yields the same
 * transition and record the committing replica saw. Events the loaded records already
 * reflect (seq not above the host's) are skipped, which is what makes the unlocked load
 * exact. Memory: the records of the rollouts being watched on this replica.
 */
export function createFollowedWatchHub(options: FollowedWatchHubOptions): FollowedWatchHub {
  const { db, onError, pageSize = 1000, maxRetryMs = 5000 } = options;
  const local = createWatchHub();
  const followed = new Map<string, Followed>();
  let running: Promise<void> | undefined;
  let dirty = false;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let retryMs = 0;

  async function load(rolloutId: string): Promise<FollowState | undefined> {
    const cursor = await lastEventId(db, rolloutId);
    const rollout = await getRollout(db, rolloutId);
    if (rollout === undefined) return undefined;
    const records = new Map<string, HostRolloutRecord>();
    let after: RecordKey | undefined;
    do {
      const page = await listRecords(db, { rolloutId }, { pageSize, ...(after ? { after } : {}) });
      for (const record of page.records) records.set(record.hostname, record);
      after = page.next;
    } while (after !== undefined);
    return { cursor, policy: rollout.policy, records };
  }

  /**
   * Applies the rollout's new log events and publishes their transitions. An event that does
   * not replay (a bug) is reported and the rollout reloaded at once: the changes up to the
   * reload are then folded into the reloaded records, unpublished.
   */
  async function catchUp(rolloutId: string, entry: Followed): Promise<void> {
    for (;;) {
      const state = entry.state;
      if (state === undefined) return;
      const events = await listEvents(db, { rolloutId, afterId: state.cursor, limit: pageSize });
      let reload: Error | undefined;
      for (const e of events) {
        if (followed.get(rolloutId) !== entry || entry.state !== state) return;
        state.cursor = e.id;
        const before = state.records.get(e.hostname);
        if (before === undefined || e.seq <= before.lastEventSeq) continue;
        const result = step(before, e.event, e.recordedAt, state.policy);
        if (!result.ok) {
          reload = new Error(
            `event ${e.id} (${e.hostname} seq ${e.seq}) does not replay (${result.error.type}); the rollout was reloaded and its watchers may have missed changes`,
          );
          break;
        }
        state.records.set(e.hostname, result.record);
        for (const effect of result.effects) {
          if (effect.type !== "recordTransition") continue;
          local.publish({
            rolloutId,
            hostname: e.hostname,
            from: effect.from,
            to: effect.to,
            at: effect.at,
            eventLogId: e.id,
            record: result.record,
          });
        }
      }
      if (reload !== undefined) {
        entry.state = undefined; // if the reload fails, the retry loads it
        entry.state = await loadOrThrow(rolloutId);
        onError(reload, rolloutId);
      } else if (events.length < pageSize) {
        return;
      }
    }
  }

  async function loadOrThrow(rolloutId: string): Promise<FollowState> {
    const state = await load(rolloutId);
    if (state === undefined) throw new Error(`no rollout "${rolloutId}"`);
    return state;
  }

  async function drain(): Promise<void> {
    while (dirty && !closed) {
      dirty = false;
      let failed = false;
      for (const [rolloutId, entry] of [...followed]) {
        if (closed) return;
        try {
          if (entry.state === undefined) {
            entry.state = await loadOrThrow(rolloutId);
            entry.loaded = true;
            entry.resolve();
          }
          await catchUp(rolloutId, entry);
        } catch (error) {
          onError(error, rolloutId);
          if (!entry.loaded) {
            entry.loaded = true;
            entry.reject(error);
            if (followed.get(rolloutId) === entry) followed.delete(rolloutId);
          } else {
            failed = true;
          }
        }
      }
      if (failed) {
        scheduleRetry();
        return;
      }
      retryMs = 0;
    }
  }

  function scheduleRetry(): void {
    if (closed || retryTimer !== undefined) return;
    retryMs = Math.min(Math.max(retryMs * 2, 50), maxRetryMs);
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      poke();
    }, retryMs);
  }

  function poke(): void {
    dirty = true;
    if (running !== undefined || closed) return;
    running = drain().finally(() => {
      running = undefined;
      if (dirty && retryTimer === undefined) poke();
    });
  }

  return {
    publish: local.publish,
    subscribe(rolloutId, listener) {
      const unsubscribe = local.subscribe(rolloutId, listener);
      let entry = followed.get(rolloutId);
      if (entry === undefined) {
        entry = newFollowed();
        followed.set(rolloutId, entry);
        poke();
      }
      entry.subscribers++;
      const mine = entry;
      let done = false;
      return () => {
        if (done) return;
        done = true;
        unsubscribe();
        if (--mine.subscribers === 0 && followed.get(rolloutId) === mine) {
          followed.delete(rolloutId);
        }
      };
    },
    ready(rolloutId) {
      return followed.get(rolloutId)?.ready ?? Promise.resolve();
    },
    get size() {
      return local.size;
    },
    poke,
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(retryTimer);
      retryTimer = undefined;
      for (const entry of followed.values()) {
        if (!entry.loaded) entry.reject(new Error("shutting down"));
      }
      await running;
    },
  };
}
