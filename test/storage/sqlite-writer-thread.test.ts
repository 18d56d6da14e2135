// The SQLite writer thread on a real file: a reply means committed and readable by another
// connection, errors keep their classification across the thread boundary, and a thread
// killed under a batch fails it as an outage, leaves all or nothing, and is started again.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { sql } from "kysely";
import type { RemoteEvent } from "../../src/core/event.js";
import { createStoreHealth } from "../../src/runtime/store-health.js";
import {
  type BatchItem,
  createBatchApplier,
  type WorkOutcome,
} from "../../src/storage/apply-batch.js";
import { createDatabase, type Database } from "../../src/storage/database.js";
import { listEvents } from "../../src/storage/list-events.js";
import { migrateToLatest } from "../../src/storage/migrate.js";
import { type OpenRolloutRequest, openRollout } from "../../src/storage/open-rollout.js";
import { listRefusedEvents } from "../../src/storage/refused-events.js";
import {
  createSqliteWriterThread,
  type SqliteWriterThread,
  WriterExitedError,
} from "../../src/storage/sqlite-writer-thread.js";
import { classifyStoreError } from "../../src/storage/store-error.js";
import { createStoreWriter } from "../../src/storage/store-writer.js";
import { at, ev, T0 } from "./events.js";

const R = "stable@3f2a9c1e";
const NOW = at("2026-05-16T02:00:00.123456789Z");

let dir: string;
let url: string;
let reader: Database;
const threads: SqliteWriterThread[] = [];

function thread(onExit?: (error: Error) => void): SqliteWriterThread {
  const t = createSqliteWriterThread({ url, ...(onExit ? { onExit } : {}) });
  threads.push(t);
  return t;
}

function item(hostname: string, event: RemoteEvent, text = "{}"): BatchItem {
  // A signature viewing a larger buffer, as one sliced from a request body does.
  const body = new Uint8Array(64);
  body.set([7, 7, 7], 10);
  return {
    rolloutId: R,
    hostname,
    event,
    signature: body.subarray(10, 13),
    origin: { peer: `${hostname}.agents`, protocol: "proto", request: () => text },
  };
}

const hosts = (n: number) => Array.from({ length: n }, (_, i) => `h${i}`);

function opening(names: readonly string[]): OpenRolloutRequest {
  return {
    rolloutId: R,
    channel: "stable",
    policy: "halt",
    soakDurationSecs: 0,
    hosts: names.map((hostname) => ({ hostname, targetClosure: `target-${hostname}` })),
  };
}

async function openHosts(writer: SqliteWriterThread, names: readonly string[]): Promise<void> {
  assert.equal((await writer.openRollout(opening(names), T0)).ok, true);
}

async function logged(): Promise<number> {
  return (await listEvents(reader.db, { rolloutId: R, limit: 100_000 })).length;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "nixfleet-writer-"));
  url = `sqlite:${join(dir, "store.db")}`;
  reader = await createDatabase(url);
  await migrateToLatest(reader);
});

afterEach(async () => {
  for (const t of threads.splice(0)) await t.close();
  await reader.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("SQLite writer thread", () => {
  test("a reply means committed: another connection reads it, outcomes as in-thread", async () => {
    const writer = thread();
    await openHosts(writer, ["web-01", "web-02"]);
    const items = [
      item("web-01", ev.dispatchAck(1)),
      item("web-02", ev.dispatchAck(1)),
      item("web-01", ev.activationCompleted(2, "wrong-closure")),
      item("nope", ev.dispatchAck(1)),
    ];
    const outcomes = await writer.applyWork(items, NOW);
    const log = await listEvents(reader.db, { rolloutId: R, limit: 10 });
    assert.deepEqual(
      log.map((e) => [e.hostname, e.seq, [...(e.signature ?? [])]]),
      [
        ["web-01", 1, [7, 7, 7]],
        ["web-02", 1, [7, 7, 7]],
        ["web-01", 2, [7, 7, 7]],
      ],
    );
    // The same batch on an in-thread writer over a second file gives the same outcomes.
    const other = await createDatabase(`sqlite:${join(dir, "other.db")}`);
    try {
      await migrateToLatest(other);
      await openRollout(other.db, opening(["web-01", "web-02"]), T0);
      const expected: WorkOutcome[] = await createBatchApplier(other).applyWork(items, NOW);
      assert.deepEqual(outcomes, expected);
    } finally {
      await other.close();
    }
    // The unknown host's refusal kept the request text rendered before crossing over.
    const refused = await listRefusedEvents(reader.db, { hostname: "nope" }, { limit: 10 });
    assert.equal(refused.length, 1);
    assert.equal(refused[0]?.request, "{}");
    assert.equal(refused[0]?.peer, "nope.agents");
  });

  test("errors arrive classified: a data error stays a SqliteError, bad input a RangeError", async () => {
    const writer = thread();
    await openHosts(writer, ["web-01"]);
    await sql
      .raw(
        `create trigger boom before insert on event_log when new.seq = 666
         begin select raise(abort, 'injected failure'); end`,
      )
      .execute(reader.db);
    const error = await writer.applyWork([item("web-01", ev.dispatchAck(666))], NOW).then(
      () => assert.fail("the trigger did not fire"),
      (e: unknown) => e as Error & { code?: string },
    );
    assert.equal(error.name, "SqliteError");
    assert.equal(error.code, "SQLITE_CONSTRAINT_TRIGGER");
    assert.match(error.message, /injected failure/);
    assert.equal(classifyStoreError(error), "data");
    await assert.rejects(
      writer.openRollout(
        { rolloutId: "not an id", channel: "x", policy: "halt", soakDurationSecs: 0, hosts: [] },
        T0,
      ),
      RangeError,
    );
    // The thread goes on after both.
    await writer.applyWork([item("web-01", ev.dispatchAck(1))], NOW);
    assert.equal(await logged(), 1);
  });

  test("killed under a batch: the batch fails as an outage, all or nothing, then restarts", async () => {
    const exits: Error[] = [];
    const writer = thread((error) => exits.push(error));
    const names = hosts(2000);
    await openHosts(writer, names);
    const batch = names.map((h) => item(h, ev.dispatchAck(1)));
    const applying = writer.applyWork(batch, NOW);
    // Let the thread start on it, then end it as a crash would.
    await new Promise((resolve) => setTimeout(resolve, 5));
    await writer.kill();
    const error = await applying.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (error !== undefined) {
      assert.ok(error instanceof WriterExitedError, String(error));
      assert.equal(classifyStoreError(error), "outage");
      assert.equal(exits.length, 1);
    }
    const after = await logged();
    assert.ok(after === 0 || after === names.length, `half a batch committed: ${after}`);
    // The next call starts a new thread; the retried batch is applied or answered duplicate.
    const retried = await writer.applyWork(batch, NOW);
    assert.ok(retried.every((o) => o.type === "applied" || o.type === "duplicate"));
    assert.equal(await logged(), names.length);
  });

  test("the thread's exit makes the store unreachable until a probe through it answers", async () => {
    let health: ReturnType<typeof createStoreHealth> | undefined;
    const writer = thread((error) => health?.report(error));
    health = createStoreHealth({
      ping: () => writer.ping(),
      isOutage: (error) => classifyStoreError(error) === "outage",
      intervalMs: 20,
      idleIntervalMs: 60_000,
    });
    try {
      await writer.ping();
      await writer.kill();
      assert.equal(health.reachable, false);
      // A new thread loads its modules again: seconds on a loaded machine.
      const deadline = Date.now() + 60_000;
      while (!health.reachable && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(health.reachable, true);
    } finally {
      health.stop();
    }
  });

  test("close drains: a batch in flight is answered and committed, later calls fail", async () => {
    const writer = thread();
    const names = hosts(500);
    await openHosts(writer, names);
    const applying = writer.applyWork(
      names.map((h) => item(h, ev.dispatchAck(1))),
      NOW,
    );
    const closed = writer.close();
    const outcomes = await applying;
    await closed;
    assert.equal(outcomes.length, names.length);
    assert.equal(await logged(), names.length);
    await assert.rejects(writer.ping(), WriterExitedError);
  });

  test("a :memory: database, which no other thread can open, is written in this thread", async () => {
    const memory = await createDatabase(":memory:");
    await migrateToLatest(memory);
    const writer = createStoreWriter(memory, ":memory:");
    try {
      assert.equal((await writer.openRollout(opening(["web-01"]), T0)).ok, true);
      await writer.applyWork([item("web-01", ev.dispatchAck(1))], NOW);
      await writer.ping();
      const log = await listEvents(memory.db, { rolloutId: R, limit: 10 });
      assert.equal(log.length, 1);
    } finally {
      await writer.close();
      await memory.close();
    }
  });
});
