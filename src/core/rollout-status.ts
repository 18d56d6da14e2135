// A rollout's status, derived from how many of its hosts are in each state (SPEC §5).
import type { HostState } from "./domain.js";

/** Where a rollout stands as a whole. */
export const ROLLOUT_STATUSES = [
  "in-progress",
  "converged",
  "halted-on-failure",
  "reverted",
] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];

const MOVING: readonly HostState[] = ["Pending", "Activating", "Deferred", "Soaking"];

/**
 * - converged: every host converged;
 * - reverted: every host is done (Converged or Reverted) and at least one rolled back;
 * - halted-on-failure: a host failed and has not rolled back (a halt policy keeps it there),
 *   or a host rolled back while others are still moving: the rollout will not complete;
 * - in-progress: otherwise (hosts still moving, none failed). A rollout with no host is
 *   in progress: it has not started to move.
 */
export function rolloutStatus(counts: ReadonlyMap<HostState, number>): RolloutStatus {
  const n = (state: HostState) => counts.get(state) ?? 0;
  const moving = MOVING.reduce((sum, s) => sum + n(s), 0);
  if (n("Failed") > 0 || (n("Reverted") > 0 && moving > 0)) return "halted-on-failure";
  if (n("Reverted") > 0) return "reverted";
  if (moving === 0 && n("Converged") > 0) return "converged";
  return "in-progress";
}
