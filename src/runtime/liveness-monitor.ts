// Host liveness changes (SPEC §8): a heartbeat makes an unreachable or new host reachable at
// once; going unreachable happens by time passing, so a periodic check against the hosts
// table (shared by every replica) notices it. Listeners get each change once per process.
import { type Instant, instantFromEpochNanos, instantToEpochNanos } from "../core/instant.js";
import type { HostLiveness } from "../storage/apply-batch.js";
import type { Database } from "../storage/database.js";
import { allHostnames, getHosts, type HostRow, unreachableHosts } from "../storage/hosts.js";
import type { Clock } from "./clock.js";

/** A host became reachable or unreachable; `host` is its row at that moment. */
export interface LivenessChange {
  readonly host: HostRow;
  readonly reachable: boolean;
}

/** How many heartbeat intervals of silence make a host unreachable. */
export const MISSED_INTERVALS = 3;

export interface LivenessMonitor {
  /** The cutoff now: a host last heard before it is unreachable. */
  cutoff(): Instant;
  /** Hosts whose heartbeats just committed (called after the commit). */
  heard(hosts: readonly HostLiveness[]): void;
  /** One periodic check; the timer calls it, tests may too. */
  check(): Promise<void>;
  /** Listens to changes; returns the function that stops listening. */
  subscribe(listener: (change: LivenessChange) => void): () => void;
  /** Stops the timer. */
  stop(): void;
}

export interface LivenessOptions {
  readonly database: Database;
  readonly clock: Clock;
  readonly heartbeatIntervalMs: number;
  readonly onError: (error: unknown) => void;
}

/**
 * Loads the known and the currently unreachable hosts (so a restart emits nothing for what
 * was already so) and starts checking every quarter interval (at least every 100 ms).
 */
export async function startLivenessMonitor(options: LivenessOptions): Promise<LivenessMonitor> {
  const { database, clock, heartbeatIntervalMs, onError } = options;
  const silenceNanos = BigInt(MISSED_INTERVALS * heartbeatIntervalMs) * 1_000_000n;
  const cutoff = () =>
    (instantFromEpochNanos(instantToEpochNanos(clock.now()) - silenceNanos) ??
      "0001-01-01T00:00:00.000000000Z") as Instant;
  const listeners = new Set<(change: LivenessChange) => void>();
  const emit = (change: LivenessChange) => {
    for (const listener of listeners) listener(change);
  };
  // Both bounded by the fleet: one entry per host that ever sent a heartbeat.
  const known = new Set(await allHostnames(database.db));
  let unreachable = new Set((await unreachableHosts(database.db, cutoff())).map((h) => h.hostname));

  let checking: Promise<void> | undefined;
  // Hosts heard while a check reads the table: its read may predate their heartbeat, so it
  // must not put them back among the unreachable (they would then never be reported again).
  let heardDuringCheck = new Set<string>();
  async function checkOnce(): Promise<void> {
    heardDuringCheck = new Set();
    const now = (await unreachableHosts(database.db, cutoff())).filter(
      (h) => !heardDuringCheck.has(h.hostname),
    );
    const next = new Set(now.map((h) => h.hostname));
    for (const host of now) {
      known.add(host.hostname);
      if (!unreachable.has(host.hostname)) emit({ host, reachable: false });
    }
    // Heard by another replica since the last check: reachable again.
    const back = [...unreachable].filter((h) => !next.has(h));
    for (const host of await getHosts(database.db, back)) emit({ host, reachable: true });
    unreachable = next;
  }
  const check = () => {
    checking ??= checkOnce().finally(() => {
      checking = undefined;
    });
    return checking;
  };
  const timer = setInterval(
    () => void check().catch(onError),
    Math.max(100, Math.floor(heartbeatIntervalMs / 4)),
  );
  timer.unref();

  return {
    cutoff,
    heard(hosts) {
      for (const h of hosts) {
        heardDuringCheck.add(h.hostname);
        const wasUnreachable = unreachable.delete(h.hostname);
        const isNew = !known.has(h.hostname);
        known.add(h.hostname);
        if (wasUnreachable || isNew) {
          emit({
            host: {
              hostname: h.hostname,
              lastHeartbeatAt: h.lastHeartbeatAt,
              receivedAt: h.receivedAt,
              currentClosure: h.currentClosure,
            },
            reachable: true,
          });
        }
      }
    },
    check,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop() {
      clearInterval(timer);
    },
  };
}
