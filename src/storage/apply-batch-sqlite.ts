// The SQLite batch writer: one BEGIN IMMEDIATE ... COMMIT per batch on better-sqlite3
// statements prepared once, run synchronously so nothing else can interleave.
import type BetterSqlite3 from "better-sqlite3";
import type { HealthFailurePolicy } from "../core/domain.js";
import type { Instant } from "../core/instant.js";
import type { StepLimits } from "../core/step.js";
import type { WorkWriter } from "./apply-batch.js";
import type { SqliteDatabase } from "./database.js";
import { finishOutcomes, planBatch, type WorkItem, type WorkOutcome } from "./plan-batch.js";
import { MUTABLE_RECORD_COLUMNS, type RecordRow, recordToRow, rowToRecord } from "./record-row.js";
import {
  foldRefusals,
  MAX_REFUSALS_PER_HOST,
  REFUSAL_COLUMNS,
  REFUSAL_CONFLICT,
  refusalValues,
} from "./refused-events.js";
import { toNumber } from "./to-number.js";

interface Statements {
  begin: BetterSqlite3.Statement;
  commit: BetterSqlite3.Statement;
  rollback: BetterSqlite3.Statement;
  selectRecord: BetterSqlite3.Statement;
  selectHostRecords: BetterSqlite3.Statement;
  upsertHost: BetterSqlite3.Statement;
  insertEvent: BetterSqlite3.Statement;
  insertQuarantine: BetterSqlite3.Statement;
  insertProbeFailure: BetterSqlite3.Statement;
  updateRecord: BetterSqlite3.Statement;
  upsertRefusal: BetterSqlite3.Statement;
  trimRefusals: BetterSqlite3.Statement;
}

// Kysely re-prepares every query (~35 us each all told); these are prepared once per
// database handle, which is what makes a 512-event batch cost little more than its fsync.
function prepare(raw: BetterSqlite3.Database): Statements {
  return {
    // IMMEDIATE takes the write lock up front: the records read below cannot change under us
    // (another process on the same file waits in busy_timeout instead).
    begin: raw.prepare("begin immediate"),
    commit: raw.prepare("commit"),
    rollback: raw.prepare("rollback"),
    selectRecord: raw.prepare(
      `select r.*, ro.on_health_failure as policy
         from host_rollout_records r join rollouts ro on ro.id = r.rollout_id
        where r.rollout_id = ? and r.hostname = ?`,
    ),
    selectHostRecords: raw.prepare(
      `select r.*, ro.on_health_failure as policy
         from host_rollout_records r join rollouts ro on ro.id = r.rollout_id
        where r.hostname = ?
        order by r.rollout_id`,
    ),
    upsertHost: raw.prepare(
      `insert into hosts (hostname, last_heartbeat_at, last_heartbeat_received_at, current_closure)
       values (?, ?, ?, ?)
       on conflict (hostname) do update set
         last_heartbeat_at = excluded.last_heartbeat_at,
         last_heartbeat_received_at = excluded.last_heartbeat_received_at,
         current_closure = excluded.current_closure`,
    ),
    insertEvent: raw.prepare(
      `insert into event_log (recorded_at, hostname, rollout_id, seq, kind, payload, signature,
         synthesized, signed_form, signer_key)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertQuarantine: raw.prepare(
      `insert into quarantined_closures
         (channel, closure, rollout_id, hostname, event_log_id, quarantined_at)
       values (?, ?, ?, ?, ?, ?)
       on conflict (channel, closure) do nothing`,
    ),
    insertProbeFailure: raw.prepare(
      `insert into probe_failures (event_log_id, rollout_id, hostname, probe_name, control_id,
         framework, mode, failure_reason, observed_at)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    updateRecord: raw.prepare(
      `update host_rollout_records
          set ${MUTABLE_RECORD_COLUMNS.map((c) => `${c} = @${c}`).join(", ")}
        where rollout_id = @rollout_id and hostname = @hostname`,
    ),
    upsertRefusal: raw.prepare(
      `insert into refused_events (${REFUSAL_COLUMNS.join(", ")})
       values (${REFUSAL_COLUMNS.map(() => "?").join(", ")}) ${REFUSAL_CONFLICT}`,
    ),
    trimRefusals: raw.prepare(
      `delete from refused_events where hostname = ? and id < (
         select id from refused_events where hostname = ? order by id desc limit 1 offset ${MAX_REFUSALS_PER_HOST - 1})`,
    ),
  };
}

type Row = RecordRow & { policy: HealthFailurePolicy };

/** The SQLite writer over `database.raw`. */
export function createSqliteWriter(database: SqliteDatabase, limits?: StepLimits): WorkWriter {
  const { raw, db } = database;
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
          const row = s.selectRecord.get(rolloutId, hostname) as Row | undefined;
          return row === undefined ? undefined : { record: rowToRecord(row), policy: row.policy };
        },
        (hostname) =>
          (s.selectHostRecords.all(hostname) as Row[]).map((row) => ({
            record: rowToRecord(row),
            policy: row.policy,
          })),
        limits,
      );
      const ids: number[] = [];
      for (const e of plan.events) {
        const { lastInsertRowid } = s.insertEvent.run(
          now,
          e.hostname,
          e.rolloutId,
          e.seq,
          e.kind,
          e.payload,
          e.signature,
          e.synthesized ? 1 : 0,
          e.signedForm,
          e.signerKey,
        );
        const id = toNumber(lastInsertRowid);
        ids.push(id);
        if (e.quarantine !== null) {
          const { channel, closure } = e.quarantine;
          s.insertQuarantine.run(channel, closure, e.rolloutId, e.hostname, id, now);
        }
        for (const f of e.probeFailures) {
          s.insertProbeFailure.run(
            id,
            e.rolloutId,
            e.hostname,
            f.probeName,
            f.controlId,
            f.framework,
            f.mode,
            f.failureReason,
            f.observedAt,
          );
        }
      }
      // Each touched record is written once, in its final state for the batch.
      for (const record of plan.records) {
        const { changes } = s.updateRecord.run(recordToRow(record));
        if (changes !== 1)
          throw new Error(`record ${record.rolloutId}/${record.hostname} vanished`);
      }
      for (const h of plan.hosts) {
        s.upsertHost.run(h.hostname, h.lastHeartbeatAt, h.receivedAt, h.currentClosure);
      }
      const refusals = foldRefusals(plan.refusals);
      for (const r of refusals) s.upsertRefusal.run(...refusalValues(r, now));
      for (const hostname of new Set(refusals.map((r) => r.hostname))) {
        s.trimRefusals.run(hostname, hostname);
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
