// The shapes of the identifiers every surface accepts: machine ids (hostnames) and rollout
// ids, with one wording for what is wrong with them.
import { parseRolloutId } from "../../core/rollout-id.js";
import { LIMITS } from "./event-fields.js";

const MACHINE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Longest machine id accepted (a DNS name's limit). */
export const MAX_MACHINE_ID = 253;

/** Longest store path accepted as a closure. */
export const MAX_CLOSURE = LIMITS.closure;

/** What is wrong with a machine id, or undefined when it is well-formed. */
export function machineIdProblem(value: string): string | undefined {
  return value.length <= MAX_MACHINE_ID && MACHINE_ID.test(value)
    ? undefined
    : `must be a machine id of letters, digits, '.', '_' and '-' (at most ${MAX_MACHINE_ID}), got "${value}"`;
}

/** What is wrong with a rollout id, or undefined when it is canonical (SPEC §3.2). */
export function rolloutIdProblem(value: string): string | undefined {
  return parseRolloutId(value) === undefined
    ? `must be "<channel>@<ref>" with channel [a-z0-9_-]+ and ref lowercase hex, got "${value}"`
    : undefined;
}
