// The live half of a server-streaming watch, shared by WatchRollout and WatchHosts: changes
// buffered from the moment of subscribing (before the snapshot is read), a bound on how far a
// watcher may fall behind, and how the watch ends (client gone, or the server shutting down).
import { serviceError, toConnectError } from "./service-error.js";

/** A watcher further behind than this many changes is ended; it can reconnect. */
const MAX_WATCH_BACKLOG = 10_000;

/** The changes a watch has not sent yet. */
export interface WatchFeed<C> {
  /**
   * The next change, waiting for one. Undefined when the client went away. Throws
   * resource_exhausted when the watcher fell too far behind, and unavailable when the
   * server is shutting down (a watch it ends did not finish: the client should reconnect
   * to another replica rather than take it for a completed watch).
   */
  next(): Promise<C | undefined>;
  /** Unsubscribes; call once, in a finally. */
  close(): void;
}

/** Subscribes now; read the snapshot afterwards, then drain the feed. */
export function openWatchFeed<C>(
  subscribe: (listener: (change: C) => void) => () => void,
  signal: AbortSignal,
  stopping: AbortSignal,
): WatchFeed<C> {
  const backlog: C[] = [];
  let wake: (() => void) | undefined;
  let overflow = false;
  const unsubscribe = subscribe((change) => {
    if (backlog.length >= MAX_WATCH_BACKLOG) overflow = true;
    else backlog.push(change);
    wake?.();
  });
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort);
  stopping.addEventListener("abort", onAbort);
  return {
    async next() {
      while (!signal.aborted && !stopping.aborted) {
        if (overflow) {
          throw toConnectError(
            serviceError("resource_exhausted", "watcher fell too far behind; reconnect", {
              retryAfterSeconds: 1,
            }),
          );
        }
        const change = backlog.shift();
        if (change !== undefined) return change;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
      if (signal.aborted) return undefined;
      throw toConnectError(
        serviceError("unavailable", "the server is shutting down; reconnect to watch on", {
          retryAfterSeconds: 1,
        }),
      );
    },
    close() {
      unsubscribe();
      signal.removeEventListener("abort", onAbort);
      stopping.removeEventListener("abort", onAbort);
    },
  };
}
