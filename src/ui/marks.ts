// Marks drawn on a host's cell besides its state color. Each kind comes from a source the
// service does not expose yet (liveness and seq gaps: issue 12; refused events: issue 13);
// a source is one function registered here, so adding one touches nothing else.
import type { HostRollout } from "../../gen/nixfleet/ops/v1/host_rollout_pb.js";

/** What a mark says about a host. */
export type MarkKind = "unreachable" | "seq-gap" | "refused";

/** One mark on one host. */
export interface Mark {
  readonly kind: MarkKind;
  /** Shown in the tooltip and the host panel, e.g. "2 events missing before seq 7". */
  readonly detail: string;
}

/** How each mark is drawn (the README's legend says the same). */
export const MARK_STYLES: Record<MarkKind, { readonly label: string; readonly color: string }> = {
  unreachable: { label: "unreachable (no heartbeat for 3 intervals)", color: "#111827" },
  "seq-gap": { label: "seq gap (events missing before the last one)", color: "#ffffff" },
  refused: { label: "refused events logged for this host", color: "#b91c1c" },
};

/** Gives the marks one source knows for a host (none when it knows nothing). */
export type MarkSource = (host: HostRollout) => readonly Mark[];

// Hook point: liveness (unreachable), seq-gap counts and refusal counts each add one source
// once their RPCs or record fields exist. Until then no host carries a mark.
const sources: MarkSource[] = [];

/** Registers a source of marks (e.g. a liveness map refreshed from ListHosts). */
export function addMarkSource(source: MarkSource): void {
  sources.push(source);
}

/** Every mark of `host`. */
export function marksOf(host: HostRollout): Mark[] {
  return sources.length === 0 ? [] : sources.flatMap((source) => source(host));
}
