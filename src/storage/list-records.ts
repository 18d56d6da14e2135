// Lists records by rollout, host and/or state, a page at a time. Keyset pagination on the
// primary key (rollout_id, hostname) stays stable while records change underneath.
import type { HostRolloutRecord, HostState } from "../core/domain.js";
import type { Queryable } from "./in-transaction.js";
import { rowToRecord } from "./record-row.js";

/** Which records to list; every given field must match. */
export interface RecordFilter {
  readonly rolloutId?: string;
  readonly hostname?: string;
  readonly state?: HostState;
}

/** The key of a record: where a page ends and the next one starts after. */
export interface RecordKey {
  readonly rolloutId: string;
  readonly hostname: string;
}

/** Page size, and the key of the last record of the previous page. */
export interface PageRequest {
  readonly pageSize: number;
  readonly after?: RecordKey;
}

/** One page; `next` is set only when more records may follow. */
export interface RecordPage {
  readonly records: HostRolloutRecord[];
  readonly next: RecordKey | undefined;
}

/** Records matching `filter`, ordered by (rolloutId, hostname), at most `pageSize` of them. */
export async function listRecords(
  db: Queryable,
  filter: RecordFilter,
  page: PageRequest,
): Promise<RecordPage> {
  if (!Number.isSafeInteger(page.pageSize) || page.pageSize < 1) {
    throw new RangeError(`page size ${page.pageSize} is not a positive integer`);
  }
  let query = db.selectFrom("host_rollout_records").selectAll();
  if (filter.rolloutId !== undefined) query = query.where("rollout_id", "=", filter.rolloutId);
  if (filter.hostname !== undefined) query = query.where("hostname", "=", filter.hostname);
  if (filter.state !== undefined) query = query.where("state", "=", filter.state);
  const after = page.after;
  if (after !== undefined) {
    query = query.where((eb) =>
      eb.or([
        eb("rollout_id", ">", after.rolloutId),
        eb.and([eb("rollout_id", "=", after.rolloutId), eb("hostname", ">", after.hostname)]),
      ]),
    );
  }
  // One extra row tells whether another page exists without a count query.
  const rows = await query
    .orderBy("rollout_id")
    .orderBy("hostname")
    .limit(page.pageSize + 1)
    .execute();
  const records = rows.slice(0, page.pageSize).map(rowToRecord);
  const last = records[records.length - 1];
  const next =
    rows.length > page.pageSize && last !== undefined
      ? { rolloutId: last.rolloutId, hostname: last.hostname }
      : undefined;
  return { records, next };
}
