// Human output of the rollout commands: state names, times, the status table and the
// counts-by-state summary, shared by `rollout status` and `rollout watch`.
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { HostState } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import type { HostRollout } from "../../gen/nixfleet/ops/v1/host_rollout_pb.js";
import { HOST_STATES } from "../core/domain.js";

/** The SPEC's name of a wire state, e.g. "Converged". */
export function stateName(state: HostState): string {
  return HOST_STATES[state - 1] ?? `state ${state}`;
}

/** A timestamp as RFC 3339 UTC, with milliseconds only when there are any. */
export function formatTime(ts: Timestamp | undefined): string {
  if (ts === undefined) return "-";
  const ms = Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000);
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return "-";
  return date.toISOString().replace(".000Z", "Z");
}

/**
 * The time the host entered its current state, as best the record knows it. Deferred has no
 * timestamp of its own on the record (it lives in the event log), so it shows the activation's.
 */
export function sinceOf(r: HostRollout): Timestamp | undefined {
  switch (r.state) {
    case HostState.ACTIVATING:
    case HostState.DEFERRED:
      return r.activationStartedAt ?? r.dispatchAckedAt ?? r.dispatchedAt;
    case HostState.SOAKING:
      return r.activationCompletedAt ?? r.dispatchedAt;
    case HostState.CONVERGED:
      return r.convergedAt ?? r.dispatchedAt;
    case HostState.FAILED:
      return r.failedAt ?? r.activationFailedAt ?? r.dispatchedAt;
    case HostState.REVERTED:
      return r.revertedAt ?? r.failedAt ?? r.dispatchedAt;
    default:
      return r.dispatchedAt;
  }
}

/** Left-aligned columns separated by two spaces, without trailing blanks. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The status table: HOST, STATE, SINCE, LAST SEQ. */
export function statusTable(records: readonly HostRollout[]): string[] {
  return table(
    ["HOST", "STATE", "SINCE", "LAST SEQ"],
    records.map((r) => [
      r.hostname,
      stateName(r.state),
      formatTime(sinceOf(r)),
      r.lastEventSeq.toString(),
    ]),
  );
}

/** E.g. "3 hosts: 1 Pending, 1 Converged, 1 Reverted" (states in state-machine order). */
export function summaryLine(records: readonly HostRollout[]): string {
  const counts = new Map<HostState, number>();
  for (const r of records) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
  const parts = [...counts.entries()]
    .sort(([a], [b]) => a - b)
    .map(([state, n]) => `${n} ${stateName(state)}`);
  const total = `${records.length} host${records.length === 1 ? "" : "s"}`;
  return parts.length === 0 ? total : `${total}: ${parts.join(", ")}`;
}
