// The one edge where a heartbeat, from either encoding, becomes a domain Heartbeat: the proto
// HeartbeatRequest (Connect, gRPC, gRPC-Web) or the snake_case JSON body existing agents send.
import type { HeartbeatRequest } from "../../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import type { Heartbeat } from "../../core/heartbeat.js";
import { LIMITS } from "./event-fields.js";
import { FieldError, optionalText, text, timestamp } from "./field-codecs.js";
import { MAX_MACHINE_ID, machineIdProblem, rolloutIdProblem } from "./identifiers.js";
import { textProblem } from "./text-problem.js";

/** A validated heartbeat, with `at` as the agent wrote it (the binding echoes it verbatim). */
export interface HeartbeatInput {
  readonly heartbeat: Heartbeat;
  /** The `at` text of a JSON body; absent for the proto encoding. */
  readonly atText?: string;
}

/** A heartbeat, or the first field that is missing or malformed. */
export type HeartbeatDecodeResult =
  | { readonly ok: true; readonly value: HeartbeatInput }
  | { readonly ok: false; readonly error: { readonly field: string; readonly message: string } };

const hostnameText = text(MAX_MACHINE_ID);
const rolloutIdText = optionalText(256);
const closureText = optionalText(LIMITS.closure);

function read(
  values: { hostname: unknown; rolloutId: unknown; currentClosure: unknown; at: unknown },
  names: { rolloutId: string; currentClosure: string },
  json: boolean,
): Heartbeat {
  const codec = <T>(c: { json(v: unknown, p: string): T; proto(v: unknown, p: string): T }) =>
    json ? c.json : c.proto;
  const hostname = codec(hostnameText)(values.hostname, "hostname");
  const hostnameProblem = machineIdProblem(hostname);
  if (hostnameProblem !== undefined) throw new FieldError("hostname", hostnameProblem);
  const given = codec(rolloutIdText)(values.rolloutId, names.rolloutId);
  // An empty rollout id names no rollout: the same as none, as for the closure below.
  const rolloutId = given === "" ? undefined : given;
  if (rolloutId !== undefined) {
    const problem = rolloutIdProblem(rolloutId);
    if (problem !== undefined) throw new FieldError(names.rolloutId, problem);
  }
  const currentClosure = codec(closureText)(values.currentClosure, names.currentClosure);
  // The edge rule of issue 11: no store keeps a NUL or a lone surrogate faithfully.
  const closureProblem = currentClosure === undefined ? undefined : textProblem(currentClosure);
  if (closureProblem !== undefined) throw new FieldError(names.currentClosure, closureProblem);
  return {
    hostname,
    rolloutId: rolloutId ?? null,
    // An empty closure names nothing a record could be on: the same as none.
    currentClosure: currentClosure === undefined || currentClosure === "" ? null : currentClosure,
    at: codec(timestamp)(values.at, "at"),
  };
}

function fail(error: unknown): HeartbeatDecodeResult {
  if (error instanceof FieldError) {
    return { ok: false, error: { field: error.field, message: error.message } };
  }
  throw error;
}

/** Decodes and validates a HeartbeatRequest message; errors name proto-JSON paths. */
export function decodeHeartbeatProto(request: HeartbeatRequest): HeartbeatDecodeResult {
  try {
    const heartbeat = read(
      {
        hostname: request.hostname,
        rolloutId: request.rolloutId,
        currentClosure: request.currentClosure,
        at: request.at,
      },
      { rolloutId: "rolloutId", currentClosure: "currentClosure" },
      false,
    );
    return { ok: true, value: { heartbeat } };
  } catch (error) {
    return fail(error);
  }
}

/**
 * Decodes the binding's snake_case body (already parsed JSON) as SPEC §8 spells it:
 * `hostname`, `rollout_id` (optional, null allowed), `current_closure` (optional, null
 * allowed), `at`. Unknown keys are ignored; errors name the snake_case keys.
 */
export function decodeHeartbeatJson(body: unknown): HeartbeatDecodeResult {
  try {
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      throw new FieldError("body", "must be a JSON object");
    }
    const b = body as Record<string, unknown>;
    const heartbeat = read(
      {
        hostname: b["hostname"],
        rolloutId: b["rollout_id"],
        currentClosure: b["current_closure"],
        at: b["at"],
      },
      { rolloutId: "rollout_id", currentClosure: "current_closure" },
      true,
    );
    return { ok: true, value: { heartbeat, atText: b["at"] as string } };
  } catch (error) {
    return fail(error);
  }
}
