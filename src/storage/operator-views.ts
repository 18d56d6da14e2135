// The operator's read views beyond records and events: rollouts with host counts by state,
// quarantined closures by channel and the probe-failure view, each a keyset-paged read.
import type { HostState } from "../core/domain.js";
import type { Queryable } from "./in-transaction.js";
import { type ProbeFailure, rowToProbeFailure } from "./list-probe-failures.js";
import { type Quarantine, rowToQuarantine } from "./list-quarantines.js";
import { type Rollout, rowToRollout } from "./rollout.js";
import { toNumber } from "./to-number.js";

/** A rollout with how many of its hosts are in each state. */
export interface RolloutWithCounts {
  readonly rollout: Rollout;
  readonly counts: ReadonlyMap<HostState, number>;
}

async function countsOf(
  db: Queryable,
  ids: readonly string[],
): Promise<Map<string, Map<HostState, number>>> {
  const out = new Map<string, Map<HostState, number>>(ids.map((id) => [id, new Map()]));
  if (ids.length === 0) return out;
  const rows = await db
    .selectFrom("host_rollout_records")
    .select(["rollout_id", "state", (eb) => eb.fn.countAll().as("n")])
    .where("rollout_id", "in", ids)
    .groupBy(["rollout_id", "state"])
    .execute();
  for (const r of rows) out.get(r.rollout_id)?.set(r.state, toNumber(r.n as number | bigint));
  return out;
}

/** Rollouts of `channel` (or all) with an id above `after`, ordered by id, with counts. */
export async function listRolloutsWithCounts(
  db: Queryable,
  filter: { readonly channel?: string },
  page: { readonly after?: string; readonly limit: number },
): Promise<RolloutWithCounts[]> {
  let q = db.selectFrom("rollouts").selectAll();
  if (filter.channel !== undefined) q = q.where("channel", "=", filter.channel);
  if (page.after !== undefined) q = q.where("id", ">", page.after);
  const rows = await q.orderBy("id").limit(page.limit).execute();
  const counts = await countsOf(
    db,
    rows.map((r) => r.id),
  );
  return rows.map((row) => ({
    rollout: rowToRollout(row),
    counts: counts.get(row.id) ?? new Map(),
  }));
}

/** One rollout with its counts, or undefined. */
export async function getRolloutWithCounts(
  db: Queryable,
  id: string,
): Promise<RolloutWithCounts | undefined> {
  const row = await db.selectFrom("rollouts").selectAll().where("id", "=", id).executeTakeFirst();
  if (row === undefined) return undefined;
  const counts = await countsOf(db, [id]);
  return { rollout: rowToRollout(row), counts: counts.get(id) ?? new Map() };
}

/** Quarantines of `channel` (or all) after the (channel, closure) key, in that order. */
export async function pageQuarantines(
  db: Queryable,
  filter: { readonly channel?: string },
  page: { readonly after?: { channel: string; closure: string }; readonly limit: number },
): Promise<Quarantine[]> {
  let q = db.selectFrom("quarantined_closures").selectAll();
  if (filter.channel !== undefined) q = q.where("channel", "=", filter.channel);
  const after = page.after;
  if (after !== undefined) {
    q = q.where((eb) =>
      eb.or([
        eb("channel", ">", after.channel),
        eb.and([eb("channel", "=", after.channel), eb("closure", ">", after.closure)]),
      ]),
    );
  }
  const rows = await q.orderBy("channel").orderBy("closure").limit(page.limit).execute();
  return rows.map(rowToQuarantine);
}

/** Which probe failures to read; every given field must match. */
export interface ProbeFailureFilter {
  readonly rolloutId?: string;
  readonly hostname?: string;
  readonly probeName?: string;
}

/** Probe failures matching `filter` with an id above `afterId`, in recording order. */
export async function pageProbeFailures(
  db: Queryable,
  filter: ProbeFailureFilter,
  page: { readonly afterId?: number; readonly limit: number },
): Promise<ProbeFailure[]> {
  let q = db
    .selectFrom("probe_failures")
    .selectAll()
    .where("id", ">", page.afterId ?? 0);
  if (filter.rolloutId !== undefined) q = q.where("rollout_id", "=", filter.rolloutId);
  if (filter.hostname !== undefined) q = q.where("hostname", "=", filter.hostname);
  if (filter.probeName !== undefined) q = q.where("probe_name", "=", filter.probeName);
  const rows = await q.orderBy("id").limit(page.limit).execute();
  return rows.map(rowToProbeFailure);
}
