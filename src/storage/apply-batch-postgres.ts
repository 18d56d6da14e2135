// The PostgreSQL batch writer: one pooled client and one transaction per batch, a constant
// number of round trips whatever the batch size (lock+load, records, events, derived rows).
// Statements are unnamed on purpose: a named statement switches to a generic plan after
// five runs, and one made while the tables were small (a seq scan) got slower with every
// batch (5 ms to 240 ms per lock query over 32 batches of 512); planning costs ~0.3 ms.
import type pg from "pg";
import type { HealthFailurePolicy } from "../core/domain.js";
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
  INTEGER_RECORD_COLUMNS,
  MUTABLE_RECORD_COLUMNS,
  RECORD_COLUMNS,
  type RecordRow,
  recordToRow,
  rowToRecord,
} from "./record-row.js";
import {
  foldRefusals,
  MAX_REFUSALS_PER_HOST,
  type PlannedRefusal,
  REFUSAL_COLUMNS,
  REFUSAL_CONFLICT,
  refusalValues,
} from "./refused-events.js";
import { toNumber } from "./to-number.js";

// Every record of the batch (and every record of each heartbeating host) is locked up front
// in key order: two writers (replicas, or two
// batches holding one host's retries) then always lock in the same order and never deadlock,
// and the second one reads the first one's committed last_event_seq after waiting.
// NO KEY UPDATE: we never change the key, so foreign-key checks of concurrent inserts
// (event_log rows of other hosts' batches) are not blocked by it.
const LOCK_RECORDS = {
  text: `select r.*, ro.on_health_failure as policy
           from host_rollout_records r join rollouts ro on ro.id = r.rollout_id
          where (r.rollout_id, r.hostname) in (select * from unnest($1::text[], $2::text[]))
             or r.hostname = any($3::text[])
          order by r.rollout_id, r.hostname
            for no key update of r`,
};

// Rows come back keyed by (rollout, host, seq), unique in event_log, so ids are matched to
// events without relying on RETURNING order.
const INSERT_EVENTS = {
  text: `insert into event_log (recorded_at, hostname, rollout_id, seq, kind, payload, signature,
           synthesized, signed_form, signer_key)
         select $1, u.hostname, u.rollout_id, u.seq, u.kind, u.payload, u.signature,
                u.synthesized, u.signed_form, u.signer_key
           from unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bytea[],
                       $8::boolean[], $9::text[], $10::bytea[])
                with ordinality as u(hostname, rollout_id, seq, kind, payload, signature,
                                     synthesized, signed_form, signer_key, ord)
          order by u.ord
         returning id, rollout_id, hostname, seq`,
};

const INSERT_QUARANTINES = {
  text: `insert into quarantined_closures
           (channel, closure, rollout_id, hostname, event_log_id, quarantined_at)
         select u.channel, u.closure, u.rollout_id, u.hostname, u.event_log_id, $1
           from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
                with ordinality as u(channel, closure, rollout_id, hostname, event_log_id, ord)
          order by u.ord
         on conflict (channel, closure) do nothing`,
};

const INSERT_PROBE_FAILURES = {
  text: `insert into probe_failures (event_log_id, rollout_id, hostname, probe_name, control_id,
           framework, mode, failure_reason, observed_at)
         select u.event_log_id, u.rollout_id, u.hostname, u.probe_name, u.control_id,
                u.framework, u.mode, u.failure_reason, u.observed_at
           from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                       $7::text[], $8::text[], $9::text[])
                with ordinality as u(event_log_id, rollout_id, hostname, probe_name, control_id,
                                     framework, mode, failure_reason, observed_at, ord)
          order by u.ord`,
};

// Rows arrive in hostname order and once per host (planBatch coalesces), so two replicas
// upserting the same hosts lock them in the same order.
const UPSERT_HOSTS = {
  text: `insert into hosts (hostname, last_heartbeat_at, last_heartbeat_received_at, current_closure)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::text[])
         on conflict (hostname) do update set
           last_heartbeat_at = excluded.last_heartbeat_at,
           last_heartbeat_received_at = excluded.last_heartbeat_received_at,
           current_closure = excluded.current_closure`,
};

const UPDATE_RECORDS = {
  text: `update host_rollout_records r
            set ${MUTABLE_RECORD_COLUMNS.map((c) => `${c} = u.${c}`).join(", ")}
           from unnest(${RECORD_COLUMNS.map(
             (c, i) => `$${i + 1}::${INTEGER_RECORD_COLUMNS.has(c) ? "bigint" : "text"}[]`,
           ).join(", ")}) as u(${RECORD_COLUMNS.join(", ")})
          where r.rollout_id = u.rollout_id and r.hostname = u.hostname`,
};

// Refusals are folded per dedup key first: one INSERT ... ON CONFLICT cannot touch a row twice.
const UPSERT_REFUSALS = {
  text: `insert into refused_events (${REFUSAL_COLUMNS.join(", ")})
         select ${REFUSAL_COLUMNS.map((c) => `u.${c}`).join(", ")}
           from unnest(${REFUSAL_COLUMNS.map(
             (c, i) => `$${i + 1}::${c === "count" || c === "seq" ? "bigint" : "text"}[]`,
           ).join(", ")}) with ordinality as u(${REFUSAL_COLUMNS.join(", ")}, ord)
          order by u.ord
         ${REFUSAL_CONFLICT}`,
};

const TRIM_REFUSALS = {
  text: `delete from refused_events r using unnest($1::text[]) as h(hostname)
          where r.hostname = h.hostname and r.id < (
            select x.id from refused_events x where x.hostname = h.hostname
             order by x.id desc limit 1 offset ${MAX_REFUSALS_PER_HOST - 1})`,
};

/** The PostgreSQL writer over `database.pool`. */
export function createPostgresWriter(database: PostgresDatabase, limits?: StepLimits): WorkWriter {
  const { pool } = database;
  return async (items: readonly WorkItem[], now: Instant): Promise<WorkOutcome[]> => {
    if (items.length === 0) return [];
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
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
    const result = await client.query({
      ...UPDATE_RECORDS,
      values: RECORD_COLUMNS.map((c) => rows.map((row) => row[c])),
    });
    if (result.rowCount !== rows.length) {
      throw new Error(`updated ${result.rowCount} of ${rows.length} records`);
    }
  }
  await upsertHosts(client, plan.hosts);
  // The event insert takes the log's commit-order lock (migration 0004) and holds it until
  // the commit, so it comes last: the records are written before, the derived rows that
  // need the ids after.
  const ids = await insertEvents(client, plan.events, now);
  await insertQuarantines(client, plan.events, ids, now);
  await insertProbeFailures(client, plan.events, ids);
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
  const result = await client.query<RecordRow & { policy: HealthFailurePolicy }>({
    ...LOCK_RECORDS,
    values: [distinct.map((i) => i.rolloutId), distinct.map((i) => i.hostname), [...hosts]],
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
  await client.query({
    ...UPSERT_HOSTS,
    values: [
      hosts.map((h) => h.hostname),
      hosts.map((h) => h.lastHeartbeatAt),
      hosts.map((h) => h.receivedAt),
      hosts.map((h) => h.currentClosure),
    ],
  });
}

async function insertEvents(
  client: pg.PoolClient,
  events: readonly PlannedEvent[],
  now: Instant,
): Promise<number[]> {
  if (events.length === 0) return [];
  const result = await client.query<{
    id: number;
    rollout_id: string;
    hostname: string;
    seq: number;
  }>({
    ...INSERT_EVENTS,
    values: [
      now,
      events.map((e) => e.hostname),
      events.map((e) => e.rolloutId),
      events.map((e) => e.seq),
      events.map((e) => e.kind),
      events.map((e) => e.payload),
      events.map((e) => e.signature),
      events.map((e) => e.synthesized),
      events.map((e) => e.signedForm),
      events.map((e) => e.signerKey),
    ],
  });
  const byKey = new Map<string, number>();
  for (const row of result.rows) {
    byKey.set(`${recordKey(row.rollout_id, row.hostname)}\u0000${row.seq}`, toNumber(row.id));
  }
  return events.map((e) => {
    const id = byKey.get(`${recordKey(e.rolloutId, e.hostname)}\u0000${e.seq}`);
    if (id === undefined)
      throw new Error(`no id returned for ${e.rolloutId}/${e.hostname}#${e.seq}`);
    return id;
  });
}

async function insertQuarantines(
  client: pg.PoolClient,
  events: readonly PlannedEvent[],
  ids: readonly number[],
  now: Instant,
): Promise<void> {
  // First insert wins, also within one batch: keep each key's first event, then insert in
  // key order so concurrent batches take the key locks in the same order (no deadlock).
  const first = new Map<string, { event: PlannedEvent; id: number }>();
  events.forEach((event, i) => {
    const q = event.quarantine;
    const key = q === null ? undefined : recordKey(q.channel, q.closure);
    if (key !== undefined && !first.has(key)) first.set(key, { event, id: ids[i]! });
  });
  if (first.size === 0) return;
  const rows = [...first.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const values = rows.map(([, v]) => v);
  await client.query({
    ...INSERT_QUARANTINES,
    values: [
      now,
      values.map((v) => v.event.quarantine!.channel),
      values.map((v) => v.event.quarantine!.closure),
      values.map((v) => v.event.rolloutId),
      values.map((v) => v.event.hostname),
      values.map((v) => v.id),
    ],
  });
}

async function insertProbeFailures(
  client: pg.PoolClient,
  events: readonly PlannedEvent[],
  ids: readonly number[],
): Promise<void> {
  const rows = events.flatMap((event, i) =>
    event.probeFailures.map((f) => ({ event, id: ids[i]!, f })),
  );
  if (rows.length === 0) return;
  await client.query({
    ...INSERT_PROBE_FAILURES,
    values: [
      rows.map((r) => r.id),
      rows.map((r) => r.event.rolloutId),
      rows.map((r) => r.event.hostname),
      rows.map((r) => r.f.probeName),
      rows.map((r) => r.f.controlId),
      rows.map((r) => r.f.framework),
      rows.map((r) => r.f.mode),
      rows.map((r) => r.f.failureReason),
      rows.map((r) => r.f.observedAt),
    ],
  });
}

async function upsertRefusals(
  client: pg.PoolClient,
  refusals: readonly PlannedRefusal[],
  now: Instant,
): Promise<void> {
  if (refusals.length === 0) return;
  const rows = refusals.map((r) => refusalValues(r, now));
  await client.query({
    ...UPSERT_REFUSALS,
    values: REFUSAL_COLUMNS.map((_, i) => rows.map((row) => row[i])),
  });
  await client.query({
    ...TRIM_REFUSALS,
    values: [[...new Set(refusals.map((r) => r.hostname))]],
  });
}
