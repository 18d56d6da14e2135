// The raw `pg` baseline of the PostgreSQL figures: the same rows written with the same round
// trips per batch as the service's PostgreSQL writer (begin; lock and load the records; update
// them; insert the events returning their ids; commit), from one client in this process, one
// batch after another as the reducer does, but without HTTP, decoding, dedup or the state
// machine. nixfleet-cp's events/s divided by this is what the service costs beyond the SQL.
// The statements are written here by hand on purpose: a baseline must not move with src/.
import { toJson } from "@bufbuild/protobuf";
import pg from "pg";
import { AgentEventSchema } from "../gen/nixfleet/agent/v1/events_pb.js";
import { parseInstant } from "../src/core/instant.js";
import { createDatabase } from "../src/storage/database.js";
import { migrateToLatest } from "../src/storage/migrate.js";
import { openRollout } from "../src/storage/open-rollout.js";
import { INTEGER_RECORD_COLUMNS, RECORD_COLUMNS } from "../src/storage/record-row.js";
import { laneEvents, targetClosure } from "./event-sequence.js";
import { createRolloutIds } from "./open-rollouts.js";
import { median } from "./report.js";

/** Round trips per batch, the same as src/storage/apply-batch-postgres.ts for plain events. */
const ROUND_TRIPS = 5;

const LOCK = `select r.*, ro.on_health_failure as policy
    from host_rollout_records r join rollouts ro on ro.id = r.rollout_id
   where (r.rollout_id, r.hostname) in (select * from unnest($1::text[], $2::text[]))
   order by r.rollout_id, r.hostname
     for no key update of r`;

const MUTABLE = RECORD_COLUMNS.filter((c) => c !== "rollout_id" && c !== "hostname");
const UPDATE = `update host_rollout_records r
     set ${MUTABLE.map((c) => `${c} = u.${c}`).join(", ")}
    from unnest(${RECORD_COLUMNS.map((c, i) => `$${i + 1}::${INTEGER_RECORD_COLUMNS.has(c) ? "bigint" : "text"}[]`).join(", ")})
      as u(${RECORD_COLUMNS.join(", ")})
   where r.rollout_id = u.rollout_id and r.hostname = u.hostname`;

const INSERT = `insert into event_log (recorded_at, hostname, rollout_id, seq, kind, payload,
    signature, synthesized, signed_form, signer_key)
  select $1, u.hostname, u.rollout_id, u.seq, u.kind, u.payload, null, false, null, null
    from unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[])
      with ordinality as u(hostname, rollout_id, seq, kind, payload, ord)
   order by u.ord
  returning id, rollout_id, hostname, seq`;

interface RawEvent {
  readonly rolloutId: string;
  readonly hostname: string;
  readonly seq: number;
  readonly kind: string;
  readonly payload: string;
}

/** What the baseline writes and for how long. */
export interface PgBaselineSpec {
  /** A fresh, empty database (migrated here). */
  readonly url: string;
  readonly hosts: readonly string[];
  /** Events per transaction. */
  readonly batch: number;
  readonly probeResults: number;
  readonly durationMs: number;
  readonly rounds: number;
}

/** Events per second of the raw writer (median of the rounds). */
export async function runPgBaseline(
  spec: PgBaselineSpec,
): Promise<{ batch: number; eventsPerSec: number; roundTrips: number }> {
  const store = await createDatabase(spec.url);
  await migrateToLatest(store);
  const client = new pg.Client({ connectionString: spec.url });
  await client.connect();
  const nextId = createRolloutIds("pgbase");
  // Rollouts are opened between timed stretches, like the bench's OpenRollout calls.
  const nextRollout = async (): Promise<RawEvent[]> => {
    const rolloutId = nextId();
    const now = parseInstant(new Date().toISOString().replace(/\.\d+Z$/, "Z"));
    if (now === undefined) throw new Error("no instant");
    const opened = await openRollout(
      store.db,
      {
        rolloutId,
        channel: "pgbase",
        policy: "halt",
        soakDurationSecs: 0,
        hosts: spec.hosts.map((hostname) => ({
          hostname,
          targetClosure: targetClosure(rolloutId, hostname),
        })),
      },
      now,
    );
    if (!opened.ok) throw new Error(opened.message);
    const perHost = spec.hosts.map((host) =>
      laneEvents(host, rolloutId, Date.now(), spec.probeResults),
    );
    // Round-robin over hosts, as the reducer's batches mix many lanes.
    const out: RawEvent[] = [];
    for (let s = 0; s < (perHost[0]?.length ?? 0); s++) {
      for (const events of perHost) {
        const e = events[s];
        const event = e?.proto.event;
        if (e === undefined || event === undefined) continue;
        out.push({
          rolloutId,
          hostname: e.proto.hostname,
          seq: s + 1,
          kind: e.kind,
          payload: JSON.stringify(toJson(AgentEventSchema, event)),
        });
      }
    }
    return out;
  };

  const applyBatch = async (events: readonly RawEvent[]) => {
    const keys = new Map<string, RawEvent>();
    for (const e of events) keys.set(`${e.rolloutId}\u0000${e.hostname}`, e);
    const distinct = [...keys.values()];
    await client.query("begin");
    const locked = await client.query<Record<string, unknown>>(LOCK, [
      distinct.map((e) => e.rolloutId),
      distinct.map((e) => e.hostname),
    ]);
    // The same row written back with its new last seq: the bytes of a real update.
    const rows = locked.rows.map((row): Record<string, unknown> => {
      const last = keys.get(`${row["rollout_id"]}\u0000${row["hostname"]}`);
      return { ...row, last_event_seq: last?.seq ?? row["last_event_seq"] };
    });
    await client.query(
      UPDATE,
      RECORD_COLUMNS.map((c) => rows.map((row) => row[c] ?? null)),
    );
    await client.query(INSERT, [
      new Date().toISOString(),
      events.map((e) => e.hostname),
      events.map((e) => e.rolloutId),
      events.map((e) => e.seq),
      events.map((e) => e.kind),
      events.map((e) => e.payload),
    ]);
    await client.query("commit");
  };

  const rates: number[] = [];
  try {
    for (let round = 0; round < spec.rounds; round++) {
      let pending: RawEvent[] = [];
      let timedMs = 0;
      let applied = 0;
      while (timedMs < spec.durationMs) {
        if (pending.length < spec.batch) pending = [...pending, ...(await nextRollout())];
        const batch = pending.slice(0, spec.batch);
        pending = pending.slice(spec.batch);
        const started = performance.now();
        await applyBatch(batch);
        timedMs += performance.now() - started;
        applied += batch.length;
      }
      rates.push(applied / (timedMs / 1000));
    }
  } finally {
    await client.end();
    await store.close();
  }
  return { batch: spec.batch, eventsPerSec: median(rates), roundTrips: ROUND_TRIPS };
}
