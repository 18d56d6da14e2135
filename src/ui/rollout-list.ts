// The rollouts overview's data: one summary per rollout, from ListRollouts (the service counts
// hosts by state); the page derives its own finer status from those counts.
import type { Api } from "./api.js";
import {
  deriveStatus,
  emptyCounts,
  type RolloutStatus,
  type StateCounts,
  stateInfo,
} from "./states.js";

/** One rollout as the overview shows it. */
export interface RolloutSummary {
  readonly id: string;
  readonly channel: string;
  readonly hostCount: number;
  readonly counts: StateCounts;
  readonly status: RolloutStatus;
}

// Bounds what one overview load reads (100 pages of the RPC's largest page).
const MAX_PAGES = 100;

/** Every rollout with counts by state and its derived status, ordered by id. */
export async function listRollouts(api: Api, signal?: AbortSignal): Promise<RolloutSummary[]> {
  const out: RolloutSummary[] = [];
  let pageToken = "";
  for (let page = 0; page < MAX_PAGES; page++) {
    const response = await api.listRollouts({ pageSize: 1000, pageToken }, { signal });
    for (const r of response.rollouts) {
      const counts = emptyCounts();
      for (const c of r.hostCounts) counts[stateInfo(c.state).name] += c.count;
      out.push({
        id: r.rollout?.id ?? "",
        channel: r.rollout?.channel ?? "",
        counts,
        hostCount: r.hostCount,
        status: deriveStatus(counts),
      });
    }
    pageToken = response.nextPageToken;
    if (pageToken === "") break;
  }
  return out;
}
