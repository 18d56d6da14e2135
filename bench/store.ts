// Micro-benchmark of the store's write path (issue 4): events applied per second through
// applyBatch with batches of 1, 64 and 512 on SQLite (WAL, synchronous=FULL, temp file),
// beside raw better-sqlite3 prepared-statement upserts of the same rows. Not a test.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import type { HostRolloutRecord } from "../src/core/domain.js";
import { addSeconds, parseInstant } from "../src/core/instant.js";
import { type BatchItem, createBatchApplier } from "../src/storage/apply-batch.js";
import { createDatabase, type SqliteDatabase } from "../src/storage/database.js";
import { migrateToLatest } from "../src/storage/migrate.js";
import { openRollout } from "../src/storage/open-rollout.js";
import { RECORD_COLUMNS, recordToRow } from "../src/storage/record-row.js";
import { lifecycle } from "../test/storage/events.js";

const EVENTS_PER_HOST = 16;
const ROLLOUT = "stable@be9c4";
const T0 = parseInstant("2026-05-16T01:00:00Z")!;
const RUNS: readonly { batch: number; events: number }[] = [
  { batch: 1, events: 1_024 },
  { batch: 64, events: 16_384 },
  { batch: 512, events: 16_384 },
];

/** `events` events over events/16 hosts, round-robin so a batch spans many hosts. */
function workload(events: number): BatchItem[] {
  const hosts = events / EVENTS_PER_HOST;
  const streams = Array.from({ length: hosts }, (_, h) =>
    lifecycle(EVENTS_PER_HOST, `target-${h}`).map((event) => ({
      rolloutId: ROLLOUT,
      hostname: `host-${h}`,
      event,
      signature: null,
    })),
  );
  const out: BatchItem[] = [];
  for (let i = 0; i < EVENTS_PER_HOST; i++) for (const s of streams) out.push(s[i]!);
  return out;
}

async function openStore(dir: string, name: string, hosts: number): Promise<SqliteDatabase> {
  const database = await createDatabase(`sqlite:${join(dir, name)}`);
  if (database.kind !== "sqlite") throw new Error("expected SQLite");
  await migrateToLatest(database);
  const opened = await openRollout(
    database.db,
    {
      rolloutId: ROLLOUT,
      channel: "stable",
      policy: "halt",
      soakDurationSecs: 0,
      hosts: Array.from({ length: hosts }, (_, h) => ({
        hostname: `host-${h}`,
        targetClosure: `target-${h}`,
      })),
    },
    T0,
  );
  if (!opened.ok) throw new Error(opened.message);
  return database;
}

function batches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** applyBatch over the workload; returns events/s and the record after each event. */
async function viaApplyBatch(database: SqliteDatabase, items: BatchItem[], size: number) {
  const { applyBatch } = createBatchApplier(database);
  const records: HostRolloutRecord[] = [];
  const start = process.hrtime.bigint();
  for (const [i, batch] of batches(items, size).entries()) {
    const outcomes = await applyBatch(batch, addSeconds(T0, 100 + i));
    for (const o of outcomes) {
      if (o.type !== "applied") throw new Error(`unexpected outcome ${o.type}`);
      records.push(o.record);
    }
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  return { perSec: items.length / secs, records };
}

/** The same event-log rows and record rows, written with raw prepared upserts. */
function viaRaw(
  raw: BetterSqlite3.Database,
  items: BatchItem[],
  records: HostRolloutRecord[],
  size: number,
): number {
  const insertEvent = raw.prepare(
    `insert into event_log (recorded_at, hostname, rollout_id, seq, kind, payload, signature)
     values (?, ?, ?, ?, ?, ?, ?)`,
  );
  const upsertRecord = raw.prepare(
    `insert into host_rollout_records (${RECORD_COLUMNS.join(", ")})
     values (${RECORD_COLUMNS.map((c) => `@${c}`).join(", ")})
     on conflict (rollout_id, hostname) do update set
       ${RECORD_COLUMNS.slice(2)
         .map((c) => `${c} = excluded.${c}`)
         .join(", ")}`,
  );
  const writeBatch = raw.transaction((from: number, to: number, now: string) => {
    for (let i = from; i < to; i++) {
      const item = items[i]!;
      const e = item.event;
      insertEvent.run(now, item.hostname, item.rolloutId, e.seq, e.kind, JSON.stringify(e), null);
      upsertRecord.run(recordToRow(records[i]!));
    }
  });
  const start = process.hrtime.bigint();
  for (let i = 0, b = 0; i < items.length; i += size, b++) {
    // IMMEDIATE, like applyBatch: the same locking, so only the work inside differs.
    writeBatch.immediate(i, Math.min(i + size, items.length), addSeconds(T0, 100 + b));
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  return items.length / secs;
}

const ROUNDS = 3;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "nixfleet-bench-store-"));
  const rows: string[][] = [];
  let sqliteVersion = "";
  try {
    for (const { batch, events } of RUNS) {
      const items = workload(events);
      const hosts = events / EVENTS_PER_HOST;
      const applied: number[] = [];
      const raw: number[] = [];
      // Alternating rounds on fresh files, medians reported: a shared machine's fsync
      // latency wanders, and both sides should see the same weather.
      for (let round = 0; round < ROUNDS; round++) {
        const store = await openStore(dir, `apply-${batch}-${round}.db`, hosts);
        const mode = [
          store.raw.pragma("journal_mode", { simple: true }),
          store.raw.pragma("synchronous", { simple: true }),
        ];
        if (mode[0] !== "wal" || String(mode[1]) !== "2") throw new Error(`not WAL/FULL: ${mode}`);
        sqliteVersion = String(store.raw.prepare("select sqlite_version()").pluck().get());
        const { perSec, records } = await viaApplyBatch(store, items, batch);
        applied.push(perSec);
        await store.close();
        const baseline = await openStore(dir, `raw-${batch}-${round}.db`, hosts);
        raw.push(viaRaw(baseline.raw, items, records, batch));
        await baseline.close();
      }
      const a = median(applied);
      const r = median(raw);
      rows.push([
        String(batch),
        String(events),
        Math.round(a).toLocaleString("en-US"),
        Math.round(r).toLocaleString("en-US"),
        `${((a / r) * 100).toFixed(0)}%`,
      ]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const header = ["batch", "events", "applyBatch ev/s", "raw upserts ev/s", "applyBatch/raw"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join("  ");
  console.log(
    `SQLite ${sqliteVersion} on node ${process.version}: WAL, synchronous=FULL, temp file; ` +
      `${EVENTS_PER_HOST} events per host, hosts round-robin; median of ${ROUNDS} rounds`,
  );
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}

await main();
