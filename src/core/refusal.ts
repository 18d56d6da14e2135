// Why an event was refused and not applied (SPEC §10): the reason operators filter by, the
// error code a truthful answer carries, and a message. A refusal never changes a record.
import { describeStepError, type StepError } from "./step-error.js";

/** Every refusal reason, in the order operators read them. */
export const REFUSAL_REASONS = [
  "not_found",
  "illegal_for_state",
  "invariant",
  "probe_limit",
  "unsafe_input",
  "signature",
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** The error code of a refusal's truthful answer. */
export type RefusalCode = "not_found" | "failed_precondition" | "invalid_argument";

/** A refused event's verdict. `field` names the request field at fault, when one is. */
export interface Refusal {
  readonly reason: RefusalReason;
  readonly code: RefusalCode;
  readonly message: string;
  readonly field: string | null;
}

/** There is no record for the (rollout, host) pair. */
export function notFoundRefusal(rolloutId: string, hostname: string): Refusal {
  return {
    reason: "not_found",
    code: "not_found",
    message: `no record for host "${hostname}" in rollout "${rolloutId}"`,
    field: null,
  };
}

/** step() refused the event: illegal for the host's state, or a Converged invariant failed. */
export function stepRefusal(error: StepError): Refusal {
  return {
    reason:
      error.type === "invariantViolation"
        ? "invariant"
        : error.type === "probeLimit"
          ? "probe_limit"
          : "illegal_for_state",
    code: "failed_precondition",
    message: describeStepError(error),
    field: null,
  };
}

/** A well-formed request refused before the state machine: unsafe text or a bad signature. */
export function inputRefusal(
  reason: "unsafe_input" | "signature",
  field: string,
  problem: string,
): Refusal {
  return { reason, code: "invalid_argument", message: `${field}: ${problem}`, field };
}
