// Reads the probe-failure view of a rollout: failing enforce-mode probes and controls.
import type { Selectable } from "kysely";
import type { ProbeMode } from "../core/domain.js";
import type { Instant } from "../core/instant.js";
import type { Queryable } from "./in-transaction.js";
import type { ProbeFailuresTable } from "./schema.js";
import { toNumber } from "./to-number.js";

/** One failing enforce-mode probe (controlId null) or sub-result control. */
export interface ProbeFailure {
  readonly id: number;
  readonly eventLogId: number;
  readonly rolloutId: string;
  readonly hostname: string;
  readonly probeName: string;
  readonly controlId: string | null;
  readonly framework: string | null;
  readonly mode: ProbeMode;
  readonly failureReason: string | null;
  /** The agent's time of the probe run. */
  readonly observedAt: Instant;
}

/** Maps a probe_failures row. */
export function rowToProbeFailure(row: Selectable<ProbeFailuresTable>): ProbeFailure {
  return {
    id: toNumber(row.id),
    eventLogId: toNumber(row.event_log_id),
    rolloutId: row.rollout_id,
    hostname: row.hostname,
    probeName: row.probe_name,
    controlId: row.control_id,
    framework: row.framework,
    mode: row.mode,
    failureReason: row.failure_reason,
    observedAt: row.observed_at as Instant,
  };
}

/** The probe failures of a rollout in the order they were recorded. */
export async function listProbeFailures(db: Queryable, rolloutId: string): Promise<ProbeFailure[]> {
  const rows = await db
    .selectFrom("probe_failures")
    .selectAll()
    .where("rollout_id", "=", rolloutId)
    .orderBy("id")
    .execute();
  return rows.map(rowToProbeFailure);
}
