// Serving status per service name, shared by the lifecycle (which sets it) and grpc.health.v1
// Check/Watch (which read and follow it).
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../../gen/grpc/health/v1/health_pb.js";

/**
 * A status a service can be set to. SERVICE_UNKNOWN is left out: it only describes, in Watch, a
 * name that has no status.
 */
export type SettableStatus = Exclude<ServingStatus, ServingStatus.SERVICE_UNKNOWN>;

/** Called after a service's status changed. */
export type HealthListener = (service: string, status: SettableStatus) => void;

/** Mutable health of a server; the service name "" stands for the whole server. */
export interface HealthState {
  /** The status of `service`, or undefined when it was never set. */
  get(service: string): SettableStatus | undefined;
  /** Sets a status; listeners hear of it only when it differs. Ignored after `shutdown()`. */
  set(service: string, status: SettableStatus): void;
  /** A snapshot of every known service and its status. */
  entries(): ReadonlyMap<string, SettableStatus>;
  /** Calls `listener` on every change until the returned function is called. */
  subscribe(listener: HealthListener): () => void;
  /**
   * Yields the current status of `service` (SERVICE_UNKNOWN when it has none), then each change,
   * until `signal` aborts. A slow reader skips to the latest status rather than queueing them.
   */
  watch(service: string, signal: AbortSignal): AsyncIterable<ServingStatus>;
  /**
   * Marks every service NOT_SERVING and freezes the state, so a late `set` from a component
   * still running cannot announce SERVING while the server drains.
   */
  shutdown(): void;
}

/**
 * Creates the health state. Like grpc-go's health server the whole server ("") starts SERVING
 * unless `initial` says otherwise.
 */
export function createHealthState(
  initial: Iterable<readonly [string, SettableStatus]> = [["", ServingStatus.SERVING]],
): HealthState {
  const statuses = new Map<string, SettableStatus>(initial);
  const listeners = new Set<HealthListener>();
  let frozen = false;

  const update = (service: string, status: SettableStatus): void => {
    if (statuses.get(service) === status) return;
    statuses.set(service, status);
    for (const listener of [...listeners]) listener(service, status);
  };

  const subscribe = (listener: HealthListener): (() => void) => {
    listeners.add(listener);
    return () => listeners.delete(listener);
  };

  return {
    get: (service) => statuses.get(service),
    set(service, status) {
      if (!frozen) update(service, status);
    },
    entries: () => new Map(statuses),
    subscribe,
    async *watch(service, signal) {
      let pending: ServingStatus | undefined =
        statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN;
      let wake: (() => void) | undefined;
      const unsubscribe = subscribe((changed, status) => {
        if (changed !== service) return;
        pending = status;
        wake?.();
      });
      const onAbort = (): void => wake?.();
      signal.addEventListener("abort", onAbort);
      let last: ServingStatus | undefined;
      try {
        while (!signal.aborted) {
          if (pending === undefined) {
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = undefined;
            continue;
          }
          const next: ServingStatus = pending;
          pending = undefined;
          if (next !== last) {
            last = next;
            yield next;
          }
        }
      } finally {
        unsubscribe();
        signal.removeEventListener("abort", onAbort);
      }
    },
    shutdown() {
      frozen = true;
      for (const service of [...statuses.keys()]) update(service, ServingStatus.NOT_SERVING);
    },
  };
}
