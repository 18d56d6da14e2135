// Marks drawn on a host's cell besides its state color. Each kind comes from one source: seq
// gaps from the record itself, liveness and refusals from live-marks.ts; a source is one
// function registered here, so adding one touches nothing else.
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

/** The record's own seq gaps (SPEC §8): seqs skipped by applied events and not re-posted. */
export function seqGapMarks(host: HostRollout): readonly Mark[] {
  if (host.missingSeqCount === 0n) return [];
  const lowest = host.missingSeqs[0];
  const n = host.missingSeqCount;
  return [
    {
      kind: "seq-gap",
      detail: `${n} event${n === 1n ? "" : "s"} missing${lowest === undefined ? "" : ` (lowest seq ${lowest})`}`,
    },
  ];
}

const sources: MarkSource[] = [seqGapMarks];

/** Registers a source of marks; returns what removes it again. */
export function addMarkSource(source: MarkSource): () => void {
  sources.push(source);
  return () => {
    const i = sources.indexOf(source);
    if (i !== -1) sources.splice(i, 1);
  };
}

/** Every mark of `host`. */
export function marksOf(host: HostRollout): Mark[] {
  return sources.flatMap((source) => source(host));
}
