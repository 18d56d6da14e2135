// The one edge where a PostEvent request, from either encoding, becomes domain values:
// the proto message (Connect, gRPC, gRPC-Web) or the HTTP JSON binding body.
import type { PostEventRequest } from "../../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import type { RemoteEvent } from "../../core/event.js";
import { inputRefusal, type Refusal } from "../../core/refusal.js";
import { EVENT_FIELDS, KIND_BY_CASE } from "./event-fields.js";
import { FieldError, readFields, seq as seqCodec, text } from "./field-codecs.js";
import { MAX_MACHINE_ID, machineIdProblem, rolloutIdProblem } from "./identifiers.js";
import { unsafeInput } from "./unsafe-input.js";

/** A validated PostEvent request. */
export interface PostEventInput {
  readonly hostname: string;
  readonly rolloutId: string;
  readonly event: RemoteEvent;
  readonly signature: Uint8Array | null;
  /** The event object exactly as the binding received it (what its signature covers). */
  readonly rawEvent?: unknown;
  /**
   * Set when the request is well-formed but must be refused before the state machine: text
   * no store keeps faithfully, or a signature that is not hex (SPEC §10). Recorded, not 400.
   */
  readonly refusal?: Refusal;
}

/** A request field that is missing or malformed. */
export interface InvalidField {
  readonly field: string;
  readonly message: string;
}

export type DecodeResult =
  | { readonly ok: true; readonly value: PostEventInput }
  | { readonly ok: false; readonly error: InvalidField };

const hostnameText = text(MAX_MACHINE_ID);
const rolloutIdText = text(256);
const anyText = text(Number.POSITIVE_INFINITY, true);
const MAX_SIGNATURE_BYTES = 1024;

function checkHostname(value: string, path: string): string {
  const problem = machineIdProblem(value);
  if (problem !== undefined) throw new FieldError(path, problem);
  return value;
}

function checkRolloutId(value: string, path: string): string {
  const problem = rolloutIdProblem(value);
  if (problem !== undefined) throw new FieldError(path, problem);
  return value;
}

function fail(error: unknown): DecodeResult {
  if (error instanceof FieldError) {
    return { ok: false, error: { field: error.field, message: error.message } };
  }
  throw error;
}

/**
 * Decodes and validates a PostEventRequest message (or a PostEvents call's event with its
 * hostname: the same fields); errors name proto-JSON paths.
 */
export function decodePostEventProto(
  request: Pick<PostEventRequest, "hostname" | "rolloutId" | "event" | "signature">,
): DecodeResult {
  try {
    const hostname = checkHostname(hostnameText.proto(request.hostname, "hostname"), "hostname");
    const rolloutId = checkRolloutId(
      rolloutIdText.proto(request.rolloutId, "rolloutId"),
      "rolloutId",
    );
    const event = request.event;
    if (event === undefined) throw new FieldError("event", "is required");
    const seq = seqCodec.proto(event.seq, "event.seq");
    const { case: caseName, value } = event.kind;
    const kind = caseName === undefined ? undefined : KIND_BY_CASE.get(caseName);
    if (kind === undefined || value === undefined) {
      throw new FieldError("event.kind", "exactly one event kind must be set");
    }
    const fields = readFields(
      EVENT_FIELDS[kind],
      value as unknown as Record<string, unknown>,
      `event.${caseName}`,
      false,
    );
    if (request.signature.length > MAX_SIGNATURE_BYTES) {
      throw new FieldError("signature", `must be at most ${MAX_SIGNATURE_BYTES} bytes`);
    }
    const signature = request.signature.length > 0 ? request.signature : null;
    const decoded = { hostname, rolloutId, event: { kind, ...fields, seq } as RemoteEvent };
    const unsafe = unsafeInput(decoded);
    return {
      ok: true,
      value: {
        ...decoded,
        signature,
        ...(unsafe ? { refusal: inputRefusal("unsafe_input", unsafe.field, unsafe.problem) } : {}),
      },
    };
  } catch (error) {
    return fail(error);
  }
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/**
 * Decodes an HTTP JSON binding body (already parsed JSON) as leniently as the original CP:
 * unknown keys are ignored, any string is a string (the hostname must still equal the
 * certificate's machine id, and an unknown rollout id is refused as not_found). Errors
 * (400) are only what the original rejected too: not an object, missing or mistyped fields,
 * unknown kinds and enum values; errors name binding paths.
 */
export function decodePostEventJson(body: unknown): DecodeResult {
  try {
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      throw new FieldError("body", "must be a JSON object");
    }
    const b = body as Record<string, unknown>;
    const hostname = anyText.json(b["hostname"], "hostname");
    const rolloutId = anyText.json(b["rolloutId"], "rolloutId");
    const raw = b["event"];
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      throw new FieldError("event", raw === undefined ? "is required" : "must be an object");
    }
    const e = raw as Record<string, unknown>;
    const kindName = e["kind"];
    const kind =
      typeof kindName === "string" && Object.hasOwn(EVENT_FIELDS, kindName)
        ? (kindName as keyof typeof EVENT_FIELDS)
        : undefined;
    if (kind === undefined) {
      throw new FieldError(
        "event.kind",
        kindName === undefined
          ? "is required"
          : `must be one of ${Object.keys(EVENT_FIELDS).join(", ")}`,
      );
    }
    const seq = seqCodec.json(e["seq"], "event.seq");
    const fields = readFields(EVENT_FIELDS[kind], e, "event", true);
    let signature: Uint8Array | null = null;
    let refusal: Refusal | undefined;
    const sig = b["signature"];
    if (sig !== undefined && sig !== null && sig !== "") {
      if (typeof sig !== "string") throw new FieldError("signature", "must be a hex string");
      // The original took any string here; one we cannot read is refused and recorded.
      if (!HEX.test(sig) || sig.length > MAX_SIGNATURE_BYTES * 2) {
        refusal = inputRefusal(
          "signature",
          "signature",
          `must be hex of at most ${MAX_SIGNATURE_BYTES} bytes`,
        );
      } else {
        signature = Buffer.from(sig, "hex");
      }
    }
    const decoded = { hostname, rolloutId, event: { kind, ...fields, seq } as RemoteEvent };
    const unsafe = unsafeInput(decoded);
    if (unsafe !== undefined) refusal = inputRefusal("unsafe_input", unsafe.field, unsafe.problem);
    return {
      ok: true,
      value: { ...decoded, signature, rawEvent: raw, ...(refusal ? { refusal } : {}) },
    };
  } catch (error) {
    return fail(error);
  }
}
