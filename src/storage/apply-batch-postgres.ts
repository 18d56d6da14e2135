// The PostgreSQL batch writer: one pooled client and one transaction per batch, a constant
// number of round trips whatever the batch size (lock+load, records, events, derived rows).
// Statements are built by Kysely, compiled once and run as named prepared statements on
// connections that re-plan every run (see PLAN_EVERY_RUN).
import { type Compilable, sql } from "kysely";
import type pg from "pg";
import type { Instant } from "../core/instant.js";
import type { StepLimits } from "../core/step.js";
import type { WorkWriter } from "./apply-batch.js";
import { compileStatement, statementBuilder } from "./compiled-statement.js";
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
import { namePostgresStatement, runPostgresStatement } from "./postgres-statement.js";
import { type ColumnArrays, type ColumnTypes, columnsOf, unnestRows } from "./postgres-unnest.js";
import {
  INTEGER_RECORD_COLUMNS,
  MUTABLE_RECORD_COLUMNS,
  RECORD_COLUMNS,
  type RecordRow,
  recordToRow,
  rowToRecord,
  selectRecords,
} from "./record-row.js";
import {
  foldRefusals,
  MAX_REFUSALS_PER_HOST,
  onRefusalConflict,
  type PlannedRefusal,
  REFUSAL_COLUMNS,
  refusalRow,
} from "./refused-events.js";
import type {
  EventLogTable,
  HostsTable,
  ProbeFailuresTable,
  QuarantinedClosuresTable,
} from "./schema.js";
import { toNumber } from "./to-number.js";

const db = statementBuilder("postgres");

/** A statement built by Kysely from the typed schema, compiled once, run as a named one. */
function statement<A extends object, O>(build: (p: A) => Compilable<O>) {
  return namePostgresStatement(compileStatement(build));
}

// Every record of the batch (and every record of each heartbeating host) is locked up front
// in key order: two writers (replicas, or two batches holding one host's retries) then
// always lock in the same order and never deadlock, and the second one reads the first
// one's committed last_event_seq after waiting.
// NO KEY UPDATE: we never change the key, so foreign-key checks of concurrent inserts
// (event_log rows of other hosts' batches) are not blocked by it.
const KEY_TYPES = { rollout_id: "text", hostname: "text" } as const;
const LOCK_RECORDS = statement((p: ColumnArrays<typeof KEY_TYPES> & { hosts: string[] }) =>
  selectRecords(db)
    .where((eb) =>
      eb.or([
        eb(
          eb.refTuple("r.rollout_id", "r.hostname"),
          "in",
          eb
            .selectFrom(unnestRows("k", KEY_TYPES, p))
            .select(["k.rollout_id", "k.hostname"])
            .$asTuple("rollout_id", "hostname"),
        ),
        eb("r.hostname", "=", eb.fn.any(sql<string[]>`${p.hosts}::text[]`)),
      ]),
    )
    .orderBy("r.rollout_id")
    .orderBy("r.hostname")
    .forNoKeyUpdate("r"),
);

const EVENT_TYPES = {
  hostname: "text",
  rollout_id: "text",
  seq: "bigint",
  kind: "text",
  payload: "text",
  signature: "bytea",
  synthesized: "boolean",
  signed_form: "text",
  signer_key: "bytea",
} as const satisfies ColumnTypes<EventLogTable>;

// Rows come back keyed by (rollout, host, seq), unique in event_log, so ids are matched to
// events without relying on RETURNING order.
const INSERT_EVENTS = statement((p: { now: string } & ColumnArrays<typeof EVENT_TYPES>) =>
  db
    .insertInto("event_log")
    .columns(["recorded_at", ...columnsOf(EVENT_TYPES)])
    .expression((eb) =>
      eb
        .selectFrom(unnestRows("u", EVENT_TYPES, p, true))
        .select((se) => [
          se.val(p.now).as("recorded_at"),
          ...columnsOf(EVENT_TYPES).map((c) => `u.${c}` as const),
        ])
        .orderBy("u.ord"),
    )
    .returning(["id", "rollout_id", "hostname", "seq"]),
);

const QUARANTINE_TYPES = {
  channel: "text",
  closure: "text",
  rollout_id: "text",
  hostname: "text",
  event_log_id: "bigint",
} as const satisfies ColumnTypes<QuarantinedClosuresTable>;

const INSERT_QUARANTINES = statement((p: { now: string } & ColumnArrays<typeof QUARANTINE_TYPES>) =>
  db
    .insertInto("quarantined_closures")
    .columns([...columnsOf(QUARANTINE_TYPES), "quarantined_at"])
    .expression((eb) =>
      eb
        .selectFrom(unnestRows("u", QUARANTINE_TYPES, p, true))
        .select((se) => [
          ...columnsOf(QUARANTINE_TYPES).map((c) => `u.${c}` as const),
          se.val(p.now).as("quarantined_at"),
        ])
        .orderBy("u.ord"),
    )
    .onConflict((oc) => oc.columns(["channel", "closure"]).doNothing()),
);

const PROBE_FAILURE_TYPES = {
  event_log_id: "bigint",
  rollout_id: "text",
  hostname: "text",
  probe_name: "text",
  control_id: "text",
  framework: "text",
  mode: "text",
  failure_reason: "text",
  observed_at: "text",
} as const satisfies ColumnTypes<ProbeFailuresTable>;

const INSERT_PROBE_FAILURES = statement((p: ColumnArrays<typeof PROBE_FAILURE_TYPES>) =>
  db
    .insertInto("probe_failures")
    .columns(columnsOf(PROBE_FAILURE_TYPES))
    .expression((eb) =>
      eb
        .selectFrom(unnestRows("u", PROBE_FAILURE_TYPES, p, true))
        .select(columnsOf(PROBE_FAILURE_TYPES).map((c) => `u.${c}` as const))
        .orderBy("u.ord"),
    ),
);

const HOST_TYPES = {
  hostname: "text",
  last_heartbeat_at: "text",
  last_heartbeat_received_at: "text",
  current_closure: "text",
} as const satisfies ColumnTypes<HostsTable>;

// Rows arrive in hostname order and once per host (planBatch coalesces), so two replicas
// upserting the same hosts lock them in the same order.
const UPSERT_HOSTS = statement((p: ColumnArrays<typeof HOST_TYPES>) =>
  db
    .insertInto("hosts")
    .columns(columnsOf(HOST_TYPES))
    .expression((eb) =>
      eb
        .selectFrom(unnestRows("u", HOST_TYPES, p))
        .select(columnsOf(HOST_TYPES).map((c) => `u.${c}` as const)),
    )
    .onConflict((oc) =>
      oc.column("hostname").doUpdateSet((eb) => ({
        last_heartbeat_at: eb.ref("excluded.last_heartbeat_at"),
        last_heartbeat_received_at: eb.ref("excluded.last_heartbeat_received_at"),
        current_closure: eb.ref("excluded.current_closure"),
      })),
    ),
);

type ScalarType = "text" | "bigint";
const RECORD_TYPES = Object.fromEntries(
  RECORD_COLUMNS.map((c) => [c, INTEGER_RECORD_COLUMNS.has(c) ? "bigint" : "text"]),
) as { readonly [C in (typeof RECORD_COLUMNS)[number]]: ScalarType };

const UPDATE_RECORDS = statement((p: ColumnArrays<typeof RECORD_TYPES>) =>
  db
    .updateTable("host_rollout_records as r")
    .from(unnestRows("u", RECORD_TYPES, p))
    .set((eb) => {
      const set: Record<string, unknown> = {};
      for (const c of MUTABLE_RECORD_COLUMNS) set[c] = eb.ref(`u.${c}`);
      return set as { [C in (typeof MUTABLE_RECORD_COLUMNS)[number]]: RecordRow[C] };
    })
    .whereRef("r.rollout_id", "=", "u.rollout_id")
    .whereRef("r.hostname", "=", "u.hostname"),
);

const REFUSAL_TYPES = Object.fromEntries(
  REFUSAL_COLUMNS.map((c) => [c, c === "count" || c === "seq" ? "bigint" : "text"]),
) as { readonly [C in (typeof REFUSAL_COLUMNS)[number]]: ScalarType };

// Refusals are folded per dedup key first: one INSERT ... ON CONFLICT cannot touch a row twice.
const UPSERT_REFUSALS = statement((p: ColumnArrays<typeof REFUSAL_TYPES>) =>
  db
    .insertInto("refused_events")
    .columns(REFUSAL_COLUMNS)
    .expression((eb) =>
      eb
        .selectFrom(unnestRows("u", REFUSAL_TYPES, p, true))
        .select(REFUSAL_COLUMNS.map((c) => `u.${c}` as const))
        .orderBy("u.ord"),
    )
    .onConflict(onRefusalConflict),
);

// Keeps each host's newest MAX_REFUSALS_PER_HOST entries.
const TRIM_REFUSALS = statement((p: { hostname: string[] }) =>
  db
    .deleteFrom("refused_events as r")
    .using(unnestRows("h", { hostname: "text" }, p))
    .whereRef("r.hostname", "=", "h.hostname")
    .where("r.id", "<", (eb) =>
      eb
        .selectFrom("refused_events as x")
        .select("x.id")
        .whereRef("x.hostname", "=", "h.hostname")
        .orderBy("x.id", "desc")
        .limit(1)
        .offset(MAX_REFUSALS_PER_HOST - 1),
    ),
);

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
  const result = await runPostgresStatement(client, INSERT_EVENTS, {
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
  await runPostgresStatement(client, INSERT_QUARANTINES, {
    now,
    channel: values.map((v) => v.event.quarantine!.channel),
    closure: values.map((v) => v.event.quarantine!.closure),
    rollout_id: values.map((v) => v.event.rolloutId),
    hostname: values.map((v) => v.event.hostname),
    event_log_id: values.map((v) => v.id),
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
  await runPostgresStatement(client, INSERT_PROBE_FAILURES, {
    event_log_id: rows.map((r) => r.id),
    rollout_id: rows.map((r) => r.event.rolloutId),
    hostname: rows.map((r) => r.event.hostname),
    probe_name: rows.map((r) => r.f.probeName),
    control_id: rows.map((r) => r.f.controlId),
    framework: rows.map((r) => r.f.framework),
    mode: rows.map((r) => r.f.mode),
    failure_reason: rows.map((r) => r.f.failureReason),
    observed_at: rows.map((r) => r.f.observedAt),
  });
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
