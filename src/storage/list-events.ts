// Reads the event log of a rollout (optionally one host) in id order, after a cursor: the
// audit trail, the replay source and what a watcher tails. Id order is commit order on both
// dialects (SQLite has one writer; on PostgreSQL migration 0004 serializes id allocation),
// so "id > cursor" never skips an event that commits later.
import type { RemoteEvent } from "../core/event.js";
import type { Instant } from "../core/instant.js";
import type { Queryable } from "./in-transaction.js";
import { toNumber } from "./to-number.js";

/** Which events to read: those of a rollout (and host) with an id above `afterId`. */
export interface EventQuery {
  readonly rolloutId: string;
  readonly hostname?: string;
  /** 0 (or absent) to start from the beginning. */
  readonly afterId?: number;
  readonly limit: number;
}

/** One event-log row with its payload parsed back into the event. */
export interface LoggedEvent {
  readonly id: number;
  /** CP clock when the event was applied. */
  readonly recordedAt: Instant;
  readonly hostname: string;
  readonly rolloutId: string;
  readonly seq: number;
  readonly kind: RemoteEvent["kind"];
  readonly event: RemoteEvent;
  /** The agent's signature over the event, as received; null when unsigned. */
  readonly signature: Uint8Array | null;
  /** Synthesized by the control plane from a heartbeat, not posted by the agent. */
  readonly synthesized: boolean;
  /** The exact text the signature verified over; null when unsigned (or logged before 0003). */
  readonly signedForm: string | null;
  /** The signer's public key (SPKI DER); null as above. */
  readonly signerKey: Uint8Array | null;
}

/** Up to `limit` events in ascending id order. */
export async function listEvents(db: Queryable, query: EventQuery): Promise<LoggedEvent[]> {
  if (!Number.isSafeInteger(query.limit) || query.limit < 1) {
    throw new RangeError(`limit ${query.limit} is not a positive integer`);
  }
  let q = db
    .selectFrom("event_log")
    .selectAll()
    .where("rollout_id", "=", query.rolloutId)
    .where("id", ">", query.afterId ?? 0);
  if (query.hostname !== undefined) q = q.where("hostname", "=", query.hostname);
  const rows = await q.orderBy("id").limit(query.limit).execute();
  return rows.map((row) => ({
    id: toNumber(row.id),
    recordedAt: row.recorded_at as Instant,
    hostname: row.hostname,
    rolloutId: row.rollout_id,
    seq: toNumber(row.seq),
    kind: row.kind as RemoteEvent["kind"],
    event: JSON.parse(row.payload) as RemoteEvent,
    signature: row.signature === null ? null : new Uint8Array(row.signature),
    // SQLite keeps booleans as 0/1 (a bigint with safe integers on).
    synthesized: row.synthesized === true || Number(row.synthesized) === 1,
    signedForm: row.signed_form,
    signerKey: row.signer_key === null ? null : new Uint8Array(row.signer_key),
  }));
}

/** The highest event-log id of a rollout, 0 when it has no events yet. */
export async function lastEventId(db: Queryable, rolloutId: string): Promise<number> {
  const row = await db
    .selectFrom("event_log")
    .select((eb) => eb.fn.max("id").as("id"))
    .where("rollout_id", "=", rolloutId)
    .executeTakeFirst();
  return row?.id === null || row?.id === undefined ? 0 : toNumber(row.id);
}
