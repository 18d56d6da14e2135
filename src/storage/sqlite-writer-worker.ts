// The SQLite writer thread's entry: its own connection to the service's file, the usual batch
// writer and operator writes on it, one reply per request sent only once COMMIT returned.
import { parentPort, workerData } from "node:worker_threads";
import type { WorkWriter } from "./apply-batch.js";
import { createSqliteWriter } from "./apply-batch-sqlite.js";
import { createDatabase, type SqliteDatabase } from "./database.js";
import { openRollout } from "./open-rollout.js";
import { pingStore } from "./ping-store.js";
import { upsertRevocations } from "./revocations.js";
import {
  fromWireItems,
  toWireError,
  type WriterReply,
  type WriterRequest,
  type WriterThreadData,
} from "./sqlite-writer-protocol.js";

const port = parentPort;
if (port === null) throw new Error("sqlite-writer-worker.ts runs only as a worker thread");
const { url, limits } = workerData as WriterThreadData;

let opened: { database: SqliteDatabase; write: WorkWriter } | undefined;

// Opened on the first request rather than at start: a file that cannot be opened fails that
// request as an outage (SQLITE_CANTOPEN) and the next one tries again, instead of the thread
// dying and being restarted in a loop.
async function open(): Promise<{ database: SqliteDatabase; write: WorkWriter }> {
  if (opened !== undefined) return opened;
  const database = await createDatabase(url);
  if (database.kind !== "sqlite") {
    await database.close();
    throw new Error(`the SQLite writer thread was given a ${database.kind} URL`);
  }
  opened = { database, write: createSqliteWriter(database, limits) };
  return opened;
}

async function handle(request: WriterRequest): Promise<unknown> {
  switch (request.op) {
    case "work":
      return (await open()).write(fromWireItems(request.items), request.now);
    case "openRollout":
      return openRollout((await open()).database.db, request.request, request.now);
    case "revocations":
      return upsertRevocations((await open()).database.db, request.entries);
    case "ping":
      return pingStore((await open()).database);
    case "close": {
      const o = opened;
      opened = undefined;
      // The service terminates the thread once this is answered.
      await o?.database.close();
      return undefined;
    }
  }
}

port.on("message", (request: WriterRequest) => {
  handle(request).then(
    (value) => port.postMessage({ id: request.id, ok: true, value } satisfies WriterReply),
    (error: unknown) =>
      port.postMessage({
        id: request.id,
        ok: false,
        error: toWireError(error),
      } satisfies WriterReply),
  );
});
