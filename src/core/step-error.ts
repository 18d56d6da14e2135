// Why step() refused an event. A refused event changes nothing.
import type { HostState } from "./domain.js";
import type { EventKind } from "./event.js";

/** The event's seq is not above the record's last applied seq (checked before the state). */
export interface SeqRegression {
  readonly type: "seqRegression";
  readonly seq: number;
  readonly lastEventSeq: number;
}

/** The (state, kind) pair is not one of the legal transitions. */
export interface IllegalForState {
  readonly type: "illegalForState";
  readonly state: HostState;
  readonly kind: EventKind;
}

/** A Converged invariant failed; `expected` and `actual` carry the values compared. */
export interface InvariantViolation {
  readonly type: "invariantViolation";
  readonly invariant: "closureMatchesTarget" | "soakElapsed" | "enforceProbesPass";
  readonly expected: string;
  readonly actual: string;
}

/** A ProbeResult would add a probe beyond the per-record cap (the map is rewritten per event). */
export interface ProbeLimit {
  readonly type: "probeLimit";
  readonly probeName: string;
  readonly maxProbes: number;
}

export type StepError = SeqRegression | IllegalForState | InvariantViolation | ProbeLimit;

/** One line for logs and error replies. */
export function describeStepError(error: StepError): string {
  switch (error.type) {
    case "seqRegression":
      return `seq ${error.seq} is not above the last applied seq ${error.lastEventSeq}`;
    case "illegalForState":
      return `${error.kind} is illegal for a host in state ${error.state}`;
    case "invariantViolation":
      return `Converged invariant ${error.invariant} failed: expected ${error.expected}, got ${error.actual}`;
    case "probeLimit":
      return `probe "${error.probeName}" would exceed this record's cap of ${error.maxProbes} distinct probes (event.probeName)`;
  }
}
