// Whether the store answers: flipped down by a failure classified as an outage, or by a
// periodic probe, and up again by the first probe that succeeds, so /readyz and the answers
// follow the store without a restart.

/** The store's reachability as the service last saw it. */
export interface StoreHealth {
  /** False from an outage until a probe succeeds. */
  readonly reachable: boolean;
  /** Reports a failed store operation; an outage flips the health down. */
  report(error: unknown): void;
  /** Stops probing. */
  stop(): void;
}

export interface StoreHealthOptions {
  /** One cheap round trip to the store. */
  readonly ping: () => Promise<void>;
  /** True when the error means the store is unreachable (not a refusal of the data). */
  readonly isOutage: (error: unknown) => boolean;
  /** Milliseconds between probes while the store is down. */
  readonly intervalMs: number;
  /** Milliseconds between probes while the store is up (detects an outage with no traffic). */
  readonly idleIntervalMs: number;
  /** Called when reachability changes. */
  readonly onChange?: (reachable: boolean, error?: unknown) => void;
}

/** Starts watching the store. */
export function createStoreHealth(options: StoreHealthOptions): StoreHealth {
  const { ping, isOutage, intervalMs, idleIntervalMs, onChange } = options;
  let reachable = true;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let probing = false;

  function set(value: boolean, error?: unknown): void {
    if (value === reachable) return;
    reachable = value;
    onChange?.(value, error);
    schedule();
  }

  function schedule(): void {
    if (stopped) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(probe, reachable ? idleIntervalMs : intervalMs);
    timer.unref();
  }

  async function probe(): Promise<void> {
    timer = undefined;
    if (probing || stopped) return;
    probing = true;
    try {
      await ping();
      set(true);
    } catch (error) {
      // A failing probe is an outage whatever the error says: the store did not answer.
      set(false, error);
    } finally {
      probing = false;
      if (timer === undefined) schedule();
    }
  }

  schedule();
  return {
    get reachable() {
      return reachable;
    },
    report(error) {
      if (isOutage(error)) set(false, error);
    },
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
