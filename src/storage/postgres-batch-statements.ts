// The PostgreSQL batch writer's statements, built by Kysely from the typed schema (a wrong
// column fails tsc), compiled once and run as named prepared statements; many rows each.
import { type Compilable, type QueryCreator, sql } from "kysely";
import { compileStatement, statementBuilder } from "./compiled-statement.js";
import { PROBE_FAILURE_COLUMNS, QUARANTINE_COLUMNS } from "./log-columns.js";
import { namePostgresStatement } from "./postgres-statement.js";
import { type ColumnArrays, type ColumnTypes, columnsOf, unnestRows } from "./postgres-unnest.js";
import {
  INTEGER_RECORD_COLUMNS,
  MUTABLE_RECORD_COLUMNS,
  RECORD_COLUMNS,
  type RecordRow,
  selectRecords,
} from "./record-row.js";
import { MAX_REFUSALS_PER_HOST, onRefusalConflict, REFUSAL_COLUMNS } from "./refused-events.js";
import type {
  EventLogTable,
  HostsTable,
  ProbeFailuresTable,
  QuarantinedClosuresTable,
  Schema,
} from "./schema.js";

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
export const LOCK_RECORDS = statement((p: ColumnArrays<typeof KEY_TYPES> & { hosts: string[] }) =>
  selectRecords(db)
    // One key set (the batch's keys, union every record of each heartbeating host) joined
    // to the table: written as "key in keys OR hostname = any(hosts)" the planner could not
    // join and filtered every row of the table instead (37 ms per batch at 200,000 records,
    // growing with the table; 0.1 ms this way).
    .where((eb) =>
      eb(
        eb.refTuple("r.rollout_id", "r.hostname"),
        "in",
        eb
          .selectFrom(unnestRows("k", KEY_TYPES, p))
          .select(["k.rollout_id", "k.hostname"])
          .union(
            eb
              .selectFrom("host_rollout_records as h")
              .select(["h.rollout_id", "h.hostname"])
              .where("h.hostname", "=", eb.fn.any(sql<string[]>`${p.hosts}::text[]`)),
          )
          .$asTuple("rollout_id", "hostname"),
      ),
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

type EventArrays = { now: string } & ColumnArrays<typeof EVENT_TYPES>;

function insertEventRows(qc: QueryCreator<Schema>, p: EventArrays) {
  return qc
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
    .returning(["id", "rollout_id", "hostname", "seq"]);
}

// Rows come back keyed by (rollout, host, seq), unique in event_log, so ids are matched to
// events without relying on RETURNING order.
export const INSERT_EVENTS = statement((p: EventArrays) => insertEventRows(db, p));

// The derived rows by their event's key, joined to the ids the event insert returns.
const QUARANTINE_KEY_TYPES = {
  channel: "text",
  closure: "text",
  rollout_id: "text",
  hostname: "text",
  seq: "bigint",
} as const satisfies ColumnTypes<QuarantinedClosuresTable & Pick<EventLogTable, "seq">>;
const PROBE_FAILURE_KEY_TYPES = {
  rollout_id: "text",
  hostname: "text",
  seq: "bigint",
  probe_name: "text",
  control_id: "text",
  framework: "text",
  mode: "text",
  failure_reason: "text",
  observed_at: "text",
} as const satisfies ColumnTypes<ProbeFailuresTable & Pick<EventLogTable, "seq">>;

/** Arguments of INSERT_EVENTS_AND_DERIVED: the events', then `q_*` and `f_*` arrays. */
export type EventsAndDerivedArrays = EventArrays &
  Prefixed<"q_", typeof QUARANTINE_KEY_TYPES> &
  Prefixed<"f_", typeof PROBE_FAILURE_KEY_TYPES>;

type Prefixed<P extends string, T> = { readonly [K in keyof T & string as `${P}${K}`]: unknown[] };

function unprefixed<P extends string, T extends object>(
  p: Prefixed<P, T>,
  prefix: P,
  types: T,
): ColumnArrays<T> {
  const arrays = {} as Record<string, unknown>;
  for (const c of columnsOf(types)) arrays[c] = (p as Record<string, unknown>)[`${prefix}${c}`];
  return arrays as ColumnArrays<T>;
}

// One statement instead of three when a batch has quarantines or probe failures (a fleet
// failing a probe everywhere): the two round trips it saves were made while holding the
// log's commit-order lock, which every replica's batch waits for.
export const INSERT_EVENTS_AND_DERIVED = statement((p: EventsAndDerivedArrays) =>
  db
    .with("ins", (qc) => insertEventRows(qc, p))
    .with("q", (qc) =>
      qc
        .insertInto("quarantined_closures")
        .columns(QUARANTINE_COLUMNS)
        .expression((eb) =>
          eb
            .selectFrom(
              unnestRows(
                "u",
                QUARANTINE_KEY_TYPES,
                unprefixed(p, "q_", QUARANTINE_KEY_TYPES),
                true,
              ),
            )
            .innerJoin("ins", (join) =>
              join
                .onRef("ins.rollout_id", "=", "u.rollout_id")
                .onRef("ins.hostname", "=", "u.hostname")
                .onRef("ins.seq", "=", "u.seq"),
            )
            .select((se) => [
              "u.channel",
              "u.closure",
              "u.rollout_id",
              "u.hostname",
              "ins.id",
              se.val(p.now).as("quarantined_at"),
            ])
            .orderBy("u.ord"),
        )
        .onConflict((oc) => oc.columns(["channel", "closure"]).doNothing())
        .returning("event_log_id"),
    )
    .with("f", (qc) =>
      qc
        .insertInto("probe_failures")
        .columns(PROBE_FAILURE_COLUMNS)
        .expression((eb) =>
          eb
            .selectFrom(
              unnestRows(
                "u",
                PROBE_FAILURE_KEY_TYPES,
                unprefixed(p, "f_", PROBE_FAILURE_KEY_TYPES),
                true,
              ),
            )
            .innerJoin("ins", (join) =>
              join
                .onRef("ins.rollout_id", "=", "u.rollout_id")
                .onRef("ins.hostname", "=", "u.hostname")
                .onRef("ins.seq", "=", "u.seq"),
            )
            .select([
              "ins.id",
              "u.rollout_id",
              "u.hostname",
              "u.probe_name",
              "u.control_id",
              "u.framework",
              "u.mode",
              "u.failure_reason",
              "u.observed_at",
            ])
            .orderBy("u.ord"),
        )
        .returning("event_log_id"),
    )
    .selectFrom("ins")
    .select(["ins.id", "ins.rollout_id", "ins.hostname", "ins.seq"]),
);

const HOST_TYPES = {
  hostname: "text",
  last_heartbeat_at: "text",
  last_heartbeat_received_at: "text",
  current_closure: "text",
} as const satisfies ColumnTypes<HostsTable>;

// Rows arrive in hostname order and once per host (planBatch coalesces), so two replicas
// upserting the same hosts lock them in the same order.
export const UPSERT_HOSTS = statement((p: ColumnArrays<typeof HOST_TYPES>) =>
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

export const UPDATE_RECORDS = statement((p: ColumnArrays<typeof RECORD_TYPES>) =>
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
export const UPSERT_REFUSALS = statement((p: ColumnArrays<typeof REFUSAL_TYPES>) =>
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
export const TRIM_REFUSALS = statement((p: { hostname: string[] }) =>
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
