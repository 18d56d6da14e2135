// A record's dedup high-water mark as a repository read. The ingest hot path does not use
// it: the handler reads heads through createRecordHeadLookup (record-head.ts).
import type { Database } from "./database.js";
import type { Queryable } from "./in-transaction.js";
import { toNumber } from "./to-number.js";

/**
 * The last applied seq of (rolloutId, hostname), 0 when none yet, undefined when there is
 * no such record. Takes an open Database or a Kysely instance / transaction.
 */
export async function lastEventSeq(
  db: Database | Queryable,
  rolloutId: string,
  hostname: string,
): Promise<number | undefined> {
  const kysely = "kind" in db ? db.db : db;
  const row = await kysely
    .selectFrom("host_rollout_records")
    .select("last_event_seq")
    .where("rollout_id", "=", rolloutId)
    .where("hostname", "=", hostname)
    .executeTakeFirst();
  return row === undefined ? undefined : toNumber(row.last_event_seq);
}
