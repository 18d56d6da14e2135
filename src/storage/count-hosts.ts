// Host counts by state for the most recently opened rollouts: the metrics gauge's source,
// bounded in rollouts so the label set cannot grow without end.
import type { Queryable } from "./in-transaction.js";
import { toNumber } from "./to-number.js";

/** One (rollout, state) count. */
export interface HostCount {
  readonly rolloutId: string;
  readonly state: string;
  readonly count: number;
}

/** Counts records by state for the `maxRollouts` most recently opened rollouts. */
export async function countHostsByState(db: Queryable, maxRollouts: number): Promise<HostCount[]> {
  const recent = db
    .selectFrom("rollouts")
    .select("id")
    .orderBy("opened_at", "desc")
    .orderBy("id")
    .limit(maxRollouts);
  const rows = await db
    .selectFrom("host_rollout_records")
    .select(["rollout_id", "state", (eb) => eb.fn.countAll().as("n")])
    .where("rollout_id", "in", recent)
    .groupBy(["rollout_id", "state"])
    .execute();
  return rows.map((r) => ({
    rolloutId: r.rollout_id,
    state: r.state,
    count: toNumber(r.n as number | bigint | string),
  }));
}
