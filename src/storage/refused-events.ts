// The refused-event log (SPEC §10): what the reducer writes for a refused event, in the
// batch's transaction, and how operators read it. One row per distinct refusal of one event
// (host, rollout, seq, kind, reason) with a count, and at most MAX_REFUSALS_PER_HOST rows per
// host (the oldest go first), so an agent retrying forever cannot grow the table without end.
import type {
  Insertable,
  OnConflictBuilder,
  OnConflictDatabase,
  OnConflictTables,
  OnConflictUpdateBuilder,
} from "kysely";
import type { Instant } from "../core/instant.js";
import type { Refusal, RefusalReason } from "../core/refusal.js";
import { unsafeTextPattern } from "../core/unsafe-text.js";
import type { Queryable } from "./in-transaction.js";
import type { RefusedEventsTable, Schema } from "./schema.js";
import { toNumber } from "./to-number.js";

/** Distinct refusals kept per host; beyond it the host's oldest entries are dropped. */
export const MAX_REFUSALS_PER_HOST = 1000;

/** Where a request came from, as the refused-event log records it. */
export interface RequestOrigin {
  /** The client certificate's CommonName. */
  readonly peer: string;
  /** "http-json" (the binding) or "proto" (Connect, gRPC, gRPC-Web). */
  readonly protocol: "http-json" | "proto";
  /** The request as received: the binding's body, or the proto request as proto JSON. */
  request(): string;
}

/** What an item names, enough to key its refusal. */
interface RefusedItem {
  readonly rolloutId: string;
  readonly hostname: string;
  readonly event: { readonly seq: number; readonly kind: string };
  readonly origin?: RequestOrigin;
}

/** One refused-event log entry to write (or to count, when it is already there). */
export interface PlannedRefusal {
  readonly peer: string;
  readonly hostname: string;
  readonly rolloutId: string;
  readonly seq: number;
  readonly kind: string;
  readonly code: string;
  readonly reason: RefusalReason;
  readonly message: string;
  readonly field: string | null;
  readonly protocol: string;
  readonly request: string;
  /** Identical refusals in the same batch, folded into this one. */
  readonly count: number;
}

// Neither store keeps a NUL nor a lone surrogate faithfully: written as JSON escapes instead,
// which is also how the refusal's message names them.
const UNSTORABLE = unsafeTextPattern("g");

/** `text` with NULs and lone surrogates written as `\uXXXX` escapes. */
export function storable(text: string): string {
  return text.replace(
    UNSTORABLE,
    (c) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, "0")}`,
  );
}

/** The log entry of a refused item. */
export function plannedRefusal(item: RefusedItem, refusal: Refusal): PlannedRefusal {
  const seq = item.event.seq;
  return {
    peer: storable(item.origin?.peer ?? ""),
    hostname: storable(item.hostname),
    rolloutId: storable(item.rolloutId),
    // A seq beyond 2^53-1 could not be read faithfully (that is why it was refused).
    seq: Number.isSafeInteger(seq) && seq >= 0 ? seq : 0,
    kind: storable(item.event.kind),
    code: refusal.code,
    reason: refusal.reason,
    message: storable(refusal.message),
    field: refusal.field === null ? null : storable(refusal.field),
    protocol: item.origin?.protocol ?? "proto",
    request: storable(item.origin?.request() ?? ""),
    count: 1,
  };
}

/** Folds identical refusals (same dedup key) of one batch into one entry with a count. */
export function foldRefusals(refusals: readonly PlannedRefusal[]): PlannedRefusal[] {
  const byKey = new Map<string, PlannedRefusal>();
  for (const r of refusals) {
    const key = JSON.stringify([r.hostname, r.rolloutId, r.seq, r.kind, r.reason]);
    const seen = byKey.get(key);
    byKey.set(key, seen === undefined ? r : { ...seen, count: seen.count + r.count });
  }
  return [...byKey.values()];
}

/** A refused_events row as the writers insert it (id is assigned by the database). */
export type RefusalRow = Required<Omit<Insertable<RefusedEventsTable>, "id">>;

/** The columns of a RefusalRow, for the dialects' per-column statements. */
export const REFUSAL_COLUMNS = [
  "first_refused_at",
  "last_refused_at",
  "count",
  "peer",
  "hostname",
  "rollout_id",
  "seq",
  "kind",
  "code",
  "reason",
  "message",
  "field",
  "protocol",
  "request",
] as const satisfies readonly (keyof RefusalRow)[];

/** The ON CONFLICT clause that counts a repeated refusal instead of adding a row. */
export function onRefusalConflict(
  oc: OnConflictBuilder<Schema, "refused_events">,
): OnConflictUpdateBuilder<
  OnConflictDatabase<Schema, "refused_events">,
  OnConflictTables<"refused_events">
> {
  return oc.columns(["hostname", "rollout_id", "seq", "kind", "reason"]).doUpdateSet((eb) => ({
    count: eb("refused_events.count", "+", eb.ref("excluded.count")),
    last_refused_at: eb.ref("excluded.last_refused_at"),
  }));
}

/** The row of one entry. */
export function refusalRow(r: PlannedRefusal, now: Instant): RefusalRow {
  return {
    first_refused_at: now,
    last_refused_at: now,
    count: r.count,
    peer: r.peer,
    hostname: r.hostname,
    rollout_id: r.rolloutId,
    seq: r.seq,
    kind: r.kind,
    code: r.code,
    reason: r.reason,
    message: r.message,
    field: r.field,
    protocol: r.protocol,
    request: r.request,
  };
}

/** One entry of the refused-event log. */
export interface RefusedEvent {
  readonly id: number;
  readonly firstRefusedAt: Instant;
  readonly lastRefusedAt: Instant;
  readonly count: number;
  readonly peer: string;
  readonly hostname: string;
  readonly rolloutId: string;
  readonly seq: number;
  readonly kind: string;
  readonly code: string;
  readonly reason: string;
  readonly message: string;
  readonly field: string | null;
  readonly protocol: string;
  readonly request: string;
}

/** Which refusals to list; every given field must match. */
export interface RefusalFilter {
  readonly rolloutId?: string;
  readonly hostname?: string;
  readonly reason?: string;
}

/** Up to `limit` refusals with an id above `afterId`, in id order. */
export async function listRefusedEvents(
  db: Queryable,
  filter: RefusalFilter,
  page: { readonly afterId?: number; readonly limit: number },
): Promise<RefusedEvent[]> {
  let q = db
    .selectFrom("refused_events")
    .selectAll()
    .where("id", ">", page.afterId ?? 0);
  if (filter.rolloutId !== undefined) q = q.where("rollout_id", "=", filter.rolloutId);
  if (filter.hostname !== undefined) q = q.where("hostname", "=", filter.hostname);
  if (filter.reason !== undefined) q = q.where("reason", "=", filter.reason);
  const rows = await q.orderBy("id").limit(page.limit).execute();
  return rows.map((row) => ({
    id: toNumber(row.id),
    firstRefusedAt: row.first_refused_at as Instant,
    lastRefusedAt: row.last_refused_at as Instant,
    count: toNumber(row.count),
    peer: row.peer,
    hostname: row.hostname,
    rolloutId: row.rollout_id,
    seq: toNumber(row.seq),
    kind: row.kind,
    code: row.code,
    reason: row.reason,
    message: row.message,
    field: row.field,
    protocol: row.protocol,
    request: row.request,
  }));
}
