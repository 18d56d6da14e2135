// Reads quarantined closures: closures a host rolled back from, per channel.
import type { Selectable } from "kysely";
import type { Instant } from "../core/instant.js";
import type { Queryable } from "./in-transaction.js";
import type { QuarantinedClosuresTable } from "./schema.js";
import { toNumber } from "./to-number.js";

/** A quarantined closure and the first rollback that put it there. */
export interface Quarantine {
  readonly channel: string;
  readonly closure: string;
  readonly rolloutId: string;
  readonly hostname: string;
  /** The RollbackComplete event's log row. */
  readonly eventLogId: number;
  /** CP clock when it was quarantined. */
  readonly quarantinedAt: Instant;
}

/** Maps a quarantined_closures row. */
export function rowToQuarantine(row: Selectable<QuarantinedClosuresTable>): Quarantine {
  return {
    channel: row.channel,
    closure: row.closure,
    rolloutId: row.rollout_id,
    hostname: row.hostname,
    eventLogId: toNumber(row.event_log_id),
    quarantinedAt: row.quarantined_at as Instant,
  };
}

/** Every quarantine, or those of one channel, ordered by (channel, closure). */
export async function listQuarantines(db: Queryable, channel?: string): Promise<Quarantine[]> {
  let q = db.selectFrom("quarantined_closures").selectAll();
  if (channel !== undefined) q = q.where("channel", "=", channel);
  const rows = await q.orderBy("channel").orderBy("closure").execute();
  return rows.map(rowToQuarantine);
}
