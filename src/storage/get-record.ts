// Reads one host-rollout record.
import type { HostRolloutRecord } from "../core/domain.js";
import type { Queryable } from "./in-transaction.js";
import { rowToRecord } from "./record-row.js";

/** The record of `hostname` in `rolloutId`, or undefined when the host is not in it. */
export async function getRecord(
  db: Queryable,
  rolloutId: string,
  hostname: string,
): Promise<HostRolloutRecord | undefined> {
  const row = await db
    .selectFrom("host_rollout_records")
    .selectAll()
    .where("rollout_id", "=", rolloutId)
    .where("hostname", "=", hostname)
    .executeTakeFirst();
  return row === undefined ? undefined : rowToRecord(row);
}
