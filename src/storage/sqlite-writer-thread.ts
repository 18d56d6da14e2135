// The service's side of the SQLite writer thread: a BatchApplier (and the operator writes)
// whose transactions, fsync included, run in a worker thread, off the event loop.
import { Worker } from "node:worker_threads";
import type { Instant } from "../core/instant.js";
import type { StepLimits } from "../core/step.js";
import type { BatchApplier, WorkItem, WorkOutcome } from "./apply-batch.js";
import type { OpenRolloutRequest, OpenRolloutResult } from "./open-rollout.js";
import type { Revocation } from "./revocations.js";
import {
  fromWireError,
  toWireItems,
  type WriterCall,
  type WriterReply,
  type WriterRequest,
  type WriterThreadData,
} from "./sqlite-writer-protocol.js";
import { WRITER_EXITED } from "./store-error.js";

/**
 * Every write the service makes to its SQLite file, done by one thread with its own
 * connection. The service's connection then only reads, which WAL never blocks: a write of
 * its own would wait synchronously in busy_timeout while the thread commits.
 */
export interface SqliteWriterThread extends BatchApplier {
  openRollout(request: OpenRolloutRequest, now: Instant): Promise<OpenRolloutResult>;
  upsertRevocations(entries: readonly Revocation[]): Promise<number>;
  /** Takes and releases the write lock in the thread: proves the thread and the file answer. */
  ping(): Promise<void>;
  /** Ends the thread at once, as a crash would; the next call starts a new one (fault drills). */
  kill(): Promise<void>;
  /** Waits for the calls in flight, closes the thread's connection and ends it. Idempotent. */
  close(): Promise<void>;
}

export interface SqliteWriterThreadOptions {
  /** The database URL of a SQLite file (a `:memory:` database cannot be shared by threads). */
  readonly url: string;
  readonly limits?: StepLimits;
  /** Hears the thread ending unexpectedly; the calls it had in flight failed with `error`. */
  readonly onExit?: (error: Error) => void;
}

/** The writer thread ended (crashed, was killed or closed): an outage, retry later. */
export class WriterExitedError extends Error {
  readonly code = WRITER_EXITED;
  override readonly name = "WriterExitedError";
}

interface Call {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

interface Spawned {
  readonly worker: Worker;
  readonly calls: Map<number, Call>;
}

// Under tsx (tests, bench, bin/nixfleet-cp) this module is TypeScript and so is the entry;
// a plain-JS build (tsconfig.build.json) has both as .js.
const EXTENSION = import.meta.url.endsWith(".ts") ? ".ts" : ".js";

function spawnWorker(data: WriterThreadData): Worker {
  const entry = new URL(`./sqlite-writer-worker${EXTENSION}`, import.meta.url);
  if (EXTENSION === ".js") return new Worker(entry, { workerData: data });
  // On Node 20 a worker gets neither the hooks register() installed in this thread nor, for
  // its entry, those of an inherited `--import tsx`: a JS stub registers tsx, then imports.
  const boot = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))})
    .then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { eval: true, workerData: data });
}

/**
 * Starts the writer thread for the SQLite file at `url` (lazily: on the first call, and again
 * on the first call after it ended). A reply means the thread's COMMIT returned; when the
 * thread ends, its calls in flight fail with WriterExitedError (an outage: their batch may or
 * may not have committed, exactly as after a crash, and a retry is answered duplicate).
 */
export function createSqliteWriterThread(options: SqliteWriterThreadOptions): SqliteWriterThread {
  const data: WriterThreadData = { url: options.url, limits: options.limits };
  let current: Spawned | undefined;
  let nextId = 1;
  let closing: Promise<void> | undefined;
  const inFlight = new Set<Promise<unknown>>();

  function start(): Spawned {
    const worker = spawnWorker(data);
    const spawned: Spawned = { worker, calls: new Map() };
    // Only a call in flight keeps the process alive, as a pending socket read would.
    worker.unref();
    let crash: Error | undefined;
    worker.on("message", (reply: WriterReply) => {
      const call = spawned.calls.get(reply.id);
      if (call === undefined) return;
      spawned.calls.delete(reply.id);
      if (spawned.calls.size === 0) worker.unref();
      if (reply.ok) call.resolve(reply.value);
      else call.reject(fromWireError(reply.error));
    });
    worker.on("error", (error) => {
      crash = error;
    });
    worker.on("exit", (code) => {
      const expected = current !== spawned;
      if (!expected) current = undefined;
      const error = new WriterExitedError(
        `the SQLite writer thread ended (exit code ${code}${crash ? `: ${crash.message}` : ""})`,
        crash === undefined ? undefined : { cause: crash },
      );
      for (const call of spawned.calls.values()) call.reject(error);
      spawned.calls.clear();
      if (!expected) options.onExit?.(error);
    });
    return spawned;
  }

  function call<T>(request: WriterCall, thread?: Spawned): Promise<T> {
    if (closing !== undefined && thread === undefined) {
      return Promise.reject(new WriterExitedError("the SQLite writer thread is closed"));
    }
    current ??= start();
    const target = thread ?? current;
    const id = nextId++;
    const reply = new Promise<T>((resolve, reject) => {
      if (target.calls.size === 0) target.worker.ref();
      target.calls.set(id, { resolve: resolve as (value: unknown) => void, reject });
      try {
        target.worker.postMessage({ ...request, id } satisfies WriterRequest);
      } catch (error) {
        // Nothing cloneable to send (a bug): this call fails, the thread goes on.
        target.calls.delete(id);
        if (target.calls.size === 0) target.worker.unref();
        reject(error as Error);
      }
    });
    inFlight.add(reply);
    const forget = () => inFlight.delete(reply);
    reply.then(forget, forget);
    return reply;
  }

  const applyWork = (items: readonly WorkItem[], now: Instant): Promise<WorkOutcome[]> =>
    items.length === 0
      ? Promise.resolve([])
      : call<WorkOutcome[]>({ op: "work", items: toWireItems(items), now });

  return {
    applyWork,
    applyBatch: applyWork as BatchApplier["applyBatch"],
    openRollout: (request, now) => call({ op: "openRollout", request, now }),
    upsertRevocations: (entries) => call({ op: "revocations", entries }),
    ping: () => call({ op: "ping" }),
    async kill() {
      const spawned = current;
      if (spawned !== undefined) await spawned.worker.terminate();
    },
    close() {
      closing ??= (async () => {
        const spawned = current;
        if (spawned === undefined) return;
        await Promise.allSettled(inFlight);
        await call({ op: "close" }, spawned).catch(() => undefined);
        // From here its exit is expected and reported to no one.
        current = undefined;
        await spawned.worker.terminate();
      })();
      return closing;
    },
  };
}
