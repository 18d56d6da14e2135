// The PostgreSQL batch writer: one pooled client and one transaction per batch, a constant
// number of round trips whatever the batch size (lock+load, records, events + derived rows).
// Statements are built by Kysely, compiled once and run as named prepared statements on
// connections that re-plan every run (see planEveryRun).
import type pg from "pg";
import type { Instant } from "../core/instant.js";
import type { StepLimits } from "../core/step.js";
import type { WorkWriter } from "./apply-batch.js";
import type { PostgresDatabase } from "./database.js";
import {
  finishOutcomes,
  type HostLiveness,
  isHeartbeatItem,
  type LockedRecord,
  type PlannedEvent,
  planBatch,
  recordKey,
  type WorkItem,
  type WorkOutcome,
} from "./plan-batch.js";
import {
  INSERT_EVENTS,
  INSERT_EVENTS_AND_DERIVED,
  LOCK_RECORDS,
  TRIM_REFUSALS,
  UPDATE_RECORDS,
  UPSERT_HOSTS,
  UPSERT_REFUSALS,
} from "./postgres-batch-statements.js";
import { planEveryRun, runPostgresStatement } from "./postgres-statement.js";
import { RECORD_COLUMNS, recordToRow, rowToRecord } from "./record-row.js";
import {
  foldRefusals,
  type PlannedRefusal,
  REFUSAL_COLUMNS,
  refusalRow,
} from "./refused-events.js";
import { toNumber } from "./to-number.js";

/** The PostgreSQL writer over `database.writerPool`. */
export function createPostgresWriter(database: PostgresDatabase, limits?: StepLimits): WorkWriter {
  const pool = database.writerPool;
  return async (items: readonly WorkItem[], now: Instant): Promise<WorkOutcome[]> => {
    if (items.length === 0) return [];
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await planEveryRun(client);
      await client.query("begin");
      try {
        const outcomes = await applyIn(client, items, now, limits);
        await client.query("commit");
        return outcomes;
      } catch (error) {
        await client.query("rollback").catch((rollbackError: Error) => {
          // A connection that cannot roll back must not go back to the pool.
          broken = rollbackError;
        });
        throw error;
      }
    } finally {
      client.release(broken);
    }
  };
}

async function applyIn(
  client: pg.PoolClient,
  items: readonly WorkItem[],
  now: Instant,
  limits: StepLimits | undefined,
): Promise<WorkOutcome[]> {
  const { byKey, byHost } = await lockRecords(client, items);
  const plan = planBatch(
    items,
    now,
    (rolloutId, hostname) => byKey.get(recordKey(rolloutId, hostname)),
    (hostname) => byHost.get(hostname) ?? [],
    limits,
  );
  // Refusals take no part in the log's commit order: written before the event insert below.
  await upsertRefusals(client, foldRefusals(plan.refusals), now);
  if (plan.records.length > 0) {
    const rows = plan.records.map(recordToRow);
    const result = await runPostgresStatement(
      client,
      UPDATE_RECORDS,
      columnArrays(rows, RECORD_COLUMNS),
    );
    if (result.rowCount !== rows.length) {
      throw new Error(`updated ${result.rowCount} of ${rows.length} records`);
    }
  }
  await upsertHosts(client, plan.hosts);
  // The event insert takes the log's commit-order lock (migration 0004) and holds it until
  // the commit, so it comes last: the records are written before, the derived rows that
  // need the ids in the same statement.
  const ids = await insertEvents(client, plan.events, now);
  return finishOutcomes(plan.outcomes, ids);
}

async function lockRecords(
  client: pg.PoolClient,
  items: readonly WorkItem[],
): Promise<{ byKey: Map<string, LockedRecord>; byHost: Map<string, LockedRecord[]> }> {
  const keys = new Map<string, { rolloutId: string; hostname: string }>();
  const hosts = new Set<string>();
  for (const item of items) {
    if (isHeartbeatItem(item)) hosts.add(item.heartbeat.hostname);
    // Refused at the edge: never looked up (its names may hold text PostgreSQL refuses).
    else if (item.refusal === undefined) keys.set(recordKey(item.rolloutId, item.hostname), item);
  }
  const distinct = [...keys.values()];
  const result = await runPostgresStatement(client, LOCK_RECORDS, {
    rollout_id: distinct.map((i) => i.rolloutId),
    hostname: distinct.map((i) => i.hostname),
    hosts: [...hosts],
  });
  const byKey = new Map<string, LockedRecord>();
  const byHost = new Map<string, LockedRecord[]>();
  for (const row of result.rows) {
    const locked = { record: rowToRecord(row), policy: row.policy };
    byKey.set(recordKey(row.rollout_id, row.hostname), locked);
    if (hosts.has(row.hostname)) {
      const list = byHost.get(row.hostname) ?? [];
      list.push(locked);
      byHost.set(row.hostname, list);
    }
  }
  return { byKey, byHost };
}

async function upsertHosts(client: pg.PoolClient, hosts: readonly HostLiveness[]): Promise<void> {
  if (hosts.length === 0) return;
  await runPostgresStatement(client, UPSERT_HOSTS, {
    hostname: hosts.map((h) => h.hostname),
    last_heartbeat_at: hosts.map((h) => h.lastHeartbeatAt),
    last_heartbeat_received_at: hosts.map((h) => h.receivedAt),
    current_closure: hosts.map((h) => h.currentClosure),
  });
}

async function insertEvents(
  client: pg.PoolClient,
  events: readonly PlannedEvent[],
  now: Instant,
): Promise<number[]> {
  if (events.length === 0) return [];
  const args = {
    now,
    hostname: events.map((e) => e.hostname),
    rollout_id: events.map((e) => e.rolloutId),
    seq: events.map((e) => e.seq),
    kind: events.map((e) => e.kind),
    payload: events.map((e) => e.payload),
    signature: events.map((e) => e.signature),
    synthesized: events.map((e) => e.synthesized),
    signed_form: events.map((e) => e.signedForm),
    signer_key: events.map((e) => e.signerKey),
  };
  const quarantines = firstQuarantines(events);
  const failures = events.flatMap((e) => e.probeFailures.map((f) => ({ e, f })));
  const result =
    quarantines.length === 0 && failures.length === 0
      ? await runPostgresStatement(client, INSERT_EVENTS, args)
      : await runPostgresStatement(client, INSERT_EVENTS_AND_DERIVED, {
          ...args,
          q_channel: quarantines.map((e) => e.quarantine!.channel),
          q_closure: quarantines.map((e) => e.quarantine!.closure),
          q_rollout_id: quarantines.map((e) => e.rolloutId),
          q_hostname: quarantines.map((e) => e.hostname),
          q_seq: quarantines.map((e) => e.seq),
          f_rollout_id: failures.map(({ e }) => e.rolloutId),
          f_hostname: failures.map(({ e }) => e.hostname),
          f_seq: failures.map(({ e }) => e.seq),
          f_probe_name: failures.map(({ f }) => f.probeName),
          f_control_id: failures.map(({ f }) => f.controlId),
          f_framework: failures.map(({ f }) => f.framework),
          f_mode: failures.map(({ f }) => f.mode),
          f_failure_reason: failures.map(({ f }) => f.failureReason),
          f_observed_at: failures.map(({ f }) => f.observedAt),
        });
  const byKey = new Map<string, number>();
  for (const row of result.rows) {
    byKey.set(
      `${recordKey(row.rollout_id, row.hostname)}\u0000${toNumber(row.seq)}`,
      toNumber(row.id),
    );
  }
  return events.map((e) => {
    const id = byKey.get(`${recordKey(e.rolloutId, e.hostname)}\u0000${e.seq}`);
    if (id === undefined)
      throw new Error(`no id returned for ${e.rolloutId}/${e.hostname}#${e.seq}`);
    return id;
  });
}

/**
 * The events whose quarantine is written. First insert wins, also within one batch: each
 * key's first event, in key order so concurrent batches take the key locks in the same
 * order (no deadlock).
 */
function firstQuarantines(events: readonly PlannedEvent[]): PlannedEvent[] {
  const first = new Map<string, PlannedEvent>();
  for (const event of events) {
    const q = event.quarantine;
    const key = q === null ? undefined : recordKey(q.channel, q.closure);
    if (key !== undefined && !first.has(key)) first.set(key, event);
  }
  return [...first.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e);
}

async function upsertRefusals(
  client: pg.PoolClient,
  refusals: readonly PlannedRefusal[],
  now: Instant,
): Promise<void> {
  if (refusals.length === 0) return;
  const rows = refusals.map((r) => refusalRow(r, now));
  await runPostgresStatement(client, UPSERT_REFUSALS, columnArrays(rows, REFUSAL_COLUMNS));
  await runPostgresStatement(client, TRIM_REFUSALS, {
    hostname: [...new Set(refusals.map((r) => r.hostname))],
  });
}

/** One array per column of `rows`. */
function columnArrays<R, C extends keyof R>(
  rows: readonly R[],
  columns: readonly C[],
): { [K in C]: R[K][] } {
  const arrays = {} as { [K in C]: R[K][] };
  for (const c of columns) arrays[c] = rows.map((row) => row[c]);
  return arrays;
}
