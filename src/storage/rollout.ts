// The rollout row as the repositories hand it out, and getRollout.

import type { Selectable } from "kysely";
import type { HealthFailurePolicy } from "../core/domain.js";
import type { Instant } from "../core/instant.js";
import type { Queryable } from "./in-transaction.js";
import type { RolloutsTable } from "./schema.js";
import { toNumber } from "./to-number.js";

/** An opened rollout. Its status is derived from its hosts' records. */
export interface Rollout {
  readonly id: string;
  readonly channel: string;
  readonly policy: HealthFailurePolicy;
  readonly soakDurationSecs: number;
  /** CP clock when it was first opened. */
  readonly openedAt: Instant;
}

/** Maps a rollouts row. */
export function rowToRollout(row: Selectable<RolloutsTable>): Rollout {
  return {
    id: row.id,
    channel: row.channel,
    policy: row.on_health_failure,
    soakDurationSecs: toNumber(row.soak_duration_secs),
    openedAt: row.opened_at as Instant,
  };
}

/** The rollout with this id, or undefined. */
export async function getRollout(db: Queryable, id: string): Promise<Rollout | undefined> {
  const row = await db.selectFrom("rollouts").selectAll().where("id", "=", id).executeTakeFirst();
  return row === undefined ? undefined : rowToRollout(row);
}
