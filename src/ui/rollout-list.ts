// The rollouts overview's data: one summary per rollout. There is no ListRollouts RPC yet, so
// this pages through ListHostRollouts and counts client-side; when ListRollouts lands, this
// function is the one place to switch.
import type { HostRollout } from "../../gen/nixfleet/ops/v1/host_rollout_pb.js";
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
  const byId = new Map<string, { channel: string; counts: StateCounts }>();
  let pageToken = "";
  for (let page = 0; page < MAX_PAGES; page++) {
    const response = await api.listHostRollouts({ pageSize: 1000, pageToken }, { signal });
    for (const host of response.hostRollouts) count(byId, host);
    pageToken = response.nextPageToken;
    if (pageToken === "") break;
  }
  return [...byId.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([id, { channel, counts }]) => ({
      id,
      channel,
      counts,
      hostCount: Object.values(counts).reduce((a, b) => a + b, 0),
      status: deriveStatus(counts),
    }));
}

function count(byId: Map<string, { channel: string; counts: StateCounts }>, host: HostRollout) {
  let entry = byId.get(host.rolloutId);
  if (entry === undefined) {
    entry = { channel: host.channel, counts: emptyCounts() };
    byId.set(host.rolloutId, entry);
  }
  entry.counts[stateInfo(host.state).name]++;
}
