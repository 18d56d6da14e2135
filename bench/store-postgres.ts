// What the commit-ordered event-log ids (migration 0004) cost PostgreSQL ingest: applyBatch
// throughput of one and of two replicas (two pools writing their own hosts concurrently),
// with the trigger and, in the same run, with it dropped. Not a test.
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import pg from "pg";
import { addSeconds, parseInstant } from "../src/core/instant.js";
import { type BatchItem, createBatchApplier } from "../src/storage/apply-batch.js";
import { createDatabase, type Database } from "../src/storage/database.js";
import { migrateToLatest } from "../src/storage/migrate.js";
import { openRollout } from "../src/storage/open-rollout.js";
import { lifecycle } from "../test/storage/events.js";

const URL_ = process.env["NIXFLEET_CP_TEST_PG"] ?? "postgres://root@127.0.0.1:5432/test";
const EVENTS_PER_HOST = 16;
const ROUNDS = 5;
const T0 = parseInstant("2026-05-16T01:00:00Z")!;
/** Hosts per replica: each measurement should last seconds, not milliseconds. */
const RUNS: readonly { replicas: number; batch: number; hosts: number }[] = [
  { replicas: 1, batch: 1, hosts: 32 },
  { replicas: 2, batch: 1, hosts: 32 },
  { replicas: 1, batch: 64, hosts: 256 },
  { replicas: 2, batch: 64, hosts: 256 },
  { replicas: 1, batch: 256, hosts: 1024 },
  { replicas: 2, batch: 256, hosts: 1024 },
];

/** One replica's events for a fresh rollout: its hosts round-robin, batched. */
async function openStream(database: Database, rolloutId: string, batch: number, hosts: number) {
  const opened = await openRollout(
    database.db,
    {
      rolloutId,
      channel: rolloutId.split("@")[0]!,
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
  const streams = Array.from({ length: hosts }, (_, h) =>
    lifecycle(EVENTS_PER_HOST, `target-${h}`).map(
      (event): BatchItem => ({ rolloutId, hostname: `host-${h}`, event, signature: null }),
    ),
  );
  const items: BatchItem[] = [];
  for (let i = 0; i < EVENTS_PER_HOST; i++) for (const s of streams) items.push(s[i]!);
  const out: BatchItem[][] = [];
  for (let i = 0; i < items.length; i += batch) out.push(items.slice(i, i + batch));
  return out;
}

/** Events per second of `replicas` pools applying their own streams at once. */
async function measure(
  replicas: Database[],
  batch: number,
  hosts: number,
  tag: string,
): Promise<number> {
  const streams = await Promise.all(
    replicas.map((db, r) => openStream(db, `bench${r}@${tag}`, batch, hosts)),
  );
  const start = process.hrtime.bigint();
  await Promise.all(
    replicas.map(async (db, r) => {
      const { applyBatch } = createBatchApplier(db);
      for (const [i, items] of streams[r]!.entries()) {
        const outcomes = await applyBatch(items, addSeconds(T0, 100 + i));
        if (outcomes.some((o) => o.type !== "applied")) throw new Error("not applied");
      }
    }),
  );
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  return (replicas.length * hosts * EVENTS_PER_HOST) / secs;
}

/** A fresh rollout id's hex part per measurement. */
function tag(n: number): string {
  return n.toString(16).padStart(4, "0");
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

async function main(): Promise<void> {
  const schema = `nixfleet_bench_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: URL_ });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  const url = new URL(URL_);
  url.searchParams.set("options", `-c search_path=${schema}`);
  const replicas = [await createDatabase(url.toString()), await createDatabase(url.toString())];
  const [first] = replicas as [Database, Database];
  const rows: string[][] = [];
  try {
    await migrateToLatest(first);
    const { rows: v } = await sql<{ v: string }>`select version() as v`.execute(first.db);
    let n = 0;
    for (const { replicas: count, batch, hosts } of RUNS) {
      const withTrigger: number[] = [];
      const without: number[] = [];
      // Alternating rounds, medians reported: both sides see the same fsync weather.
      for (let round = 0; round < ROUNDS; round++) {
        withTrigger.push(await measure(replicas.slice(0, count), batch, hosts, tag(n++)));
        await sql`alter table event_log disable trigger event_log_commit_order`.execute(first.db);
        without.push(await measure(replicas.slice(0, count), batch, hosts, tag(n++)));
        await sql`alter table event_log enable trigger event_log_commit_order`.execute(first.db);
      }
      const w = median(withTrigger);
      const o = median(without);
      rows.push([
        String(count),
        String(batch),
        String(count * hosts * EVENTS_PER_HOST),
        Math.round(o).toLocaleString("en-US"),
        Math.round(w).toLocaleString("en-US"),
        `${(((w - o) / o) * 100).toFixed(0)}%`,
      ]);
    }
    const header = ["replicas", "batch", "events", "without ev/s", "commit-ordered ev/s", "change"];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join("  ");
    console.log(
      `${v[0]?.v.split(" on ")[0]}, synchronous_commit on; ${EVENTS_PER_HOST} events per host, ` +
        `each replica its own hosts round-robin; median of ${ROUNDS} alternating rounds`,
    );
    console.log(line(header));
    for (const r of rows) console.log(line(r));
  } finally {
    for (const db of replicas) await db.close();
    await admin.query(`drop schema ${schema} cascade`);
    await admin.end();
  }
}

await main();
