// The probe map rules of SPEC §4 (ProbeResult upsert, Converged's enforce check) and the
// probe-failure rows a ProbeResult feeds, kept apart from the state modules that use them.
import type { ProbeState } from "../domain.js";
import type { RecordProbeFailure } from "../effect.js";
import type { ProbeResult } from "../event.js";

/**
 * The probe list after one ProbeResult: the named entry is created or replaced, the list
 * stays sorted by probeName (code-unit order, so it is the same under every locale).
 */
export function upsertProbe(probes: readonly ProbeState[], event: ProbeResult): ProbeState[] {
  const previous = probes.find((p) => p.probeName === event.probeName);
  const pass = event.status === "pass";
  const updated: ProbeState = {
    probeName: event.probeName,
    mode: event.mode,
    status: event.status,
    lastObservedAt: event.observedAt,
    lastPassAt: pass ? event.observedAt : (previous?.lastPassAt ?? null),
    failureReason: pass ? null : (event.failureReason ?? null),
  };
  const others = probes.filter((p) => p.probeName !== event.probeName);
  return [...others, updated].sort(byProbeName);
}

function byProbeName(a: ProbeState, b: ProbeState): number {
  if (a.probeName < b.probeName) return -1;
  return a.probeName > b.probeName ? 1 : 0;
}

/** Names of the probes that block convergence: enforce mode and not passing. */
export function failingEnforceProbes(probes: readonly ProbeState[]): string[] {
  return probes.filter((p) => p.mode === "enforce" && p.status !== "pass").map((p) => p.probeName);
}

/**
 * The probe-failure rows of one ProbeResult, as the original CP derives them: with
 * sub-results, one row per failing control whose effective mode is enforce (absent means
 * enforce); without any, one row for the probe itself when it fails in enforce mode.
 */
export function probeFailures(event: ProbeResult): RecordProbeFailure[] {
  const failureReason = event.failureReason ?? null;
  // The binding may hand over a JSON null for an absent list.
  const subResults = event.subResults ?? [];
  if (subResults.length === 0) {
    if (event.mode !== "enforce" || event.status !== "fail") return [];
    return [
      {
        type: "recordProbeFailure",
        probeName: event.probeName,
        controlId: null,
        framework: null,
        mode: "enforce",
        failureReason,
        observedAt: event.observedAt,
      },
    ];
  }
  const rows: RecordProbeFailure[] = [];
  for (const sub of subResults) {
    if (sub.status !== "fail" || (sub.effectiveMode ?? "enforce") !== "enforce") continue;
    rows.push({
      type: "recordProbeFailure",
      probeName: event.probeName,
      controlId: sub.controlId,
      framework: sub.framework,
      mode: "enforce",
      failureReason,
      observedAt: event.observedAt,
    });
  }
  return rows;
}
