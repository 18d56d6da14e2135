// The SQLite batch writer: one BEGIN IMMEDIATE ... COMMIT per batch on better-sqlite3
// statements prepared once, run synchronously so nothing else can interleave.
import type BetterSqlite3 from "better-sqlite3";
import type { Insertable } from "kysely";
import type { Instant } from "../core/instant.js";
import type { StepLimits } from "../core/step.js";
import type { WorkWriter } from "./apply-batch.js";
import { compileStatement, placeholderRow, statementBuilder } from "./compiled-statement.js";
import type { SqliteDatabase } from "./database.js";
import { PROBE_FAILURE_COLUMNS, QUARANTINE_COLUMNS } from "./log-columns.js";
import {
  finishOutcomes,
  type HostLiveness,
  planBatch,
  type WorkItem,
  type WorkOutcome,
} from "./plan-batch.js";
import {
  MUTABLE_RECORD_COLUMNS,
  type RecordRow,
  recordToRow,
  rowToRecord,
  selectRecords,
} from "./record-row.js";
import {
  foldRefusals,
  MAX_REFUSALS_PER_HOST,
  onRefusalConflict,
  REFUSAL_COLUMNS,
  type RefusalRow,
  refusalRow,
} from "./refused-events.js";
import type { EventLogTable, ProbeFailuresTable, QuarantinedClosuresTable } from "./schema.js";
import { prepareSqliteStatement } from "./sqlite-statement.js";
import { toNumber } from "./to-number.js";

const db = statementBuilder("sqlite");

const EVENT_COLUMNS = [
  "recorded_at",
  "hostname",
  "rollout_id",
  "seq",
  "kind",
  "payload",
  "signature",
  "synthesized",
  "signed_form",
  "signer_key",
] as const;

// Every column given (Required: a value left out would bind as a missing parameter).
/** Arguments of the event-log insert: better-sqlite3 binds no booleans. */
type EventArgs = Required<Omit<Insertable<EventLogTable>, "id" | "synthesized">> & {
  synthesized: 0 | 1;
};

// Built by Kysely from the typed schema (a wrong column fails tsc), compiled once at load.
const SELECT_RECORD = compileStatement((p: { rolloutId: string; hostname: string }) =>
  selectRecords(db).where("r.rollout_id", "=", p.rolloutId).where("r.hostname", "=", p.hostname),
);

const SELECT_HOST_RECORDS = compileStatement((p: { hostname: string }) =>
  selectRecords(db).where("r.hostname", "=", p.hostname).orderBy("r.rollout_id"),
);

const UPSERT_HOST = compileStatement((p: HostLiveness) =>
  db
    .insertInto("hosts")
    .values({
      hostname: p.hostname,
      last_heartbeat_at: p.lastHeartbeatAt,
      last_heartbeat_received_at: p.receivedAt,
      current_closure: p.currentClosure,
    })
    .onConflict((oc) =>
      oc.column("hostname").doUpdateSet((eb) => ({
        last_heartbeat_at: eb.ref("excluded.last_heartbeat_at"),
        last_heartbeat_received_at: eb.ref("excluded.last_heartbeat_received_at"),
        current_closure: eb.ref("excluded.current_closure"),
      })),
    ),
);

const INSERT_EVENT = compileStatement((p: EventArgs) =>
  db.insertInto("event_log").values(placeholderRow(p, EVENT_COLUMNS)),
);

const INSERT_QUARANTINE = compileStatement((p: Required<Insertable<QuarantinedClosuresTable>>) =>
  db
    .insertInto("quarantined_closures")
    .values(placeholderRow(p, QUARANTINE_COLUMNS))
    .onConflict((oc) => oc.columns(["channel", "closure"]).doNothing()),
);

const INSERT_PROBE_FAILURE = compileStatement(
  (p: Required<Omit<Insertable<ProbeFailuresTable>, "id">>) =>
    db.insertInto("probe_failures").values(placeholderRow(p, PROBE_FAILURE_COLUMNS)),
);

const UPDATE_RECORD = compileStatement((p: RecordRow) =>
  db
    .updateTable("host_rollout_records")
    .set(placeholderRow(p, MUTABLE_RECORD_COLUMNS))
    .where("rollout_id", "=", p.rollout_id)
    .where("hostname", "=", p.hostname),
);

const UPSERT_REFUSAL = compileStatement((p: RefusalRow) =>
  db
    .insertInto("refused_events")
    .values(placeholderRow(p, REFUSAL_COLUMNS))
    .onConflict(onRefusalConflict),
);

// Keeps a host's newest MAX_REFUSALS_PER_HOST entries.
const TRIM_REFUSALS = compileStatement((p: { hostname: string }) =>
  db
    .deleteFrom("refused_events")
    .where("hostname", "=", p.hostname)
    .where("id", "<", (eb) =>
      eb
        .selectFrom("refused_events")
        .select("id")
        .where("hostname", "=", p.hostname)
        .orderBy("id", "desc")
        .limit(1)
        .offset(MAX_REFUSALS_PER_HOST - 1),
    ),
);

// Kysely's driver re-prepares every query (~35 us each all told); these are prepared once per
// database handle, which is what makes a 512-event batch cost little more than its fsync.
function prepare(raw: BetterSqlite3.Database) {
  return {
    // IMMEDIATE takes the write lock up front: the records read below cannot change under us
    // (another process on the same file waits in busy_timeout instead).
    begin: raw.prepare("begin immediate"),
    commit: raw.prepare("commit"),
    rollback: raw.prepare("rollback"),
    selectRecord: prepareSqliteStatement(raw, SELECT_RECORD),
    selectHostRecords: prepareSqliteStatement(raw, SELECT_HOST_RECORDS),
    upsertHost: prepareSqliteStatement(raw, UPSERT_HOST),
    insertEvent: prepareSqliteStatement(raw, INSERT_EVENT),
    insertQuarantine: prepareSqliteStatement(raw, INSERT_QUARANTINE),
    insertProbeFailure: prepareSqliteStatement(raw, INSERT_PROBE_FAILURE),
    updateRecord: prepareSqliteStatement(raw, UPDATE_RECORD),
    upsertRefusal: prepareSqliteStatement(raw, UPSERT_REFUSAL),
    trimRefusals: prepareSqliteStatement(raw, TRIM_REFUSALS),
  };
}

type Statements = ReturnType<typeof prepare>;

/** The SQLite writer over `database.raw`. */
export function createSqliteWriter(database: SqliteDatabase, limits?: StepLimits): WorkWriter {
  const { raw } = database;
  // Prepared on first use, so an applier may be created before the migrations run.
  let statements: Statements | undefined;

  function applyNow(items: readonly WorkItem[], now: Instant): WorkOutcome[] {
    statements ??= prepare(raw);
    const s = statements;
    if (raw.inTransaction) throw new Error("the SQLite connection is already in a transaction");
    s.begin.run();
    try {
      const plan = planBatch(
        items,
        now,
        (rolloutId, hostname) => {
          const row = s.selectRecord.get({ rolloutId, hostname });
          return row === undefined ? undefined : { record: rowToRecord(row), policy: row.policy };
        },
        (hostname) =>
          s.selectHostRecords.all({ hostname }).map((row) => ({
            record: rowToRecord(row),
            policy: row.policy,
          })),
        limits,
      );
      const ids: number[] = [];
      for (const e of plan.events) {
        const { lastInsertRowid } = s.insertEvent.run({
          recorded_at: now,
          hostname: e.hostname,
          rollout_id: e.rolloutId,
          seq: e.seq,
          kind: e.kind,
          payload: e.payload,
          signature: e.signature,
          synthesized: e.synthesized ? 1 : 0,
          signed_form: e.signedForm,
          signer_key: e.signerKey,
        });
        const id = toNumber(lastInsertRowid);
        ids.push(id);
        if (e.quarantine !== null) {
          const { channel, closure } = e.quarantine;
          s.insertQuarantine.run({
            channel,
            closure,
            rollout_id: e.rolloutId,
            hostname: e.hostname,
            event_log_id: id,
            quarantined_at: now,
          });
        }
        for (const f of e.probeFailures) {
          s.insertProbeFailure.run({
            event_log_id: id,
            rollout_id: e.rolloutId,
            hostname: e.hostname,
            probe_name: f.probeName,
            control_id: f.controlId,
            framework: f.framework,
            mode: f.mode,
            failure_reason: f.failureReason,
            observed_at: f.observedAt,
          });
        }
      }
      // Each touched record is written once, in its final state for the batch.
      for (const record of plan.records) {
        const { changes } = s.updateRecord.run(recordToRow(record));
        if (changes !== 1)
          throw new Error(`record ${record.rolloutId}/${record.hostname} vanished`);
      }
      for (const h of plan.hosts) {
        s.upsertHost.run(h);
      }
      const refusals = foldRefusals(plan.refusals);
      for (const r of refusals) s.upsertRefusal.run(refusalRow(r, now));
      for (const hostname of new Set(refusals.map((r) => r.hostname))) {
        s.trimRefusals.run({ hostname });
      }
      s.commit.run();
      return finishOutcomes(plan.outcomes, ids);
    } catch (error) {
      // SQLite may already have rolled back on its own (e.g. SQLITE_FULL).
      if (raw.inTransaction) s.rollback.run();
      throw error;
    }
  }

  return async (items, now) => {
    if (items.length === 0) return [];
    // Kysely owns the one connection: holding its connection (a mutex) keeps a Kysely
    // transaction (openRollout, upsertRevocations) from interleaving with this one.
    return db.connection().execute(async () => applyNow(items, now));
  };
}
