// The column lists of the rows a batch derives from its events, shared by both dialects'
// writers; `satisfies` makes a column the table lacks fail tsc.
import type { ProbeFailuresTable, QuarantinedClosuresTable } from "./schema.js";

/** Every column of a quarantined_closures row, in the writers' order. */
export const QUARANTINE_COLUMNS = [
  "channel",
  "closure",
  "rollout_id",
  "hostname",
  "event_log_id",
  "quarantined_at",
] as const satisfies readonly (keyof QuarantinedClosuresTable)[];

/** Every column of a probe_failures row but its id, in the writers' order. */
export const PROBE_FAILURE_COLUMNS = [
  "event_log_id",
  "rollout_id",
  "hostname",
  "probe_name",
  "control_id",
  "framework",
  "mode",
  "failure_reason",
  "observed_at",
] as const satisfies readonly (keyof ProbeFailuresTable)[];
