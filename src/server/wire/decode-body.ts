// Decodes a unary request message once, strictly: the framing, varint and wire-type checks of
// strict-binary.ts or the JSON validators of json-check.ts, then protobuf-es. Shared by the
// request gate (connect-gate.ts) and the lean path (lean-path.ts), so both refuse alike.
import { type DescMessage, fromBinary, fromJson, type Message } from "@bufbuild/protobuf";
import { type ServiceError, serviceError } from "../service-error.js";
import { jsonProblem } from "./json-check.js";
import { type BodyFormat, decompress, singleEnvelope } from "./request-body.js";
import { binaryProblem, type WireProblem } from "./strict-binary.js";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A decoded request: the message and its plain (unframed, uncompressed) bytes. */
export interface DecodedBody {
  readonly message: Message;
  readonly payload: Uint8Array;
}

/**
 * Unframes, decompresses (with a bound) and decodes `body` as a `desc` message, or names what
 * is wrong: framing and encoding problems are `invalid_argument`, size `payload_too_large`.
 */
export function decodeBody(
  desc: DescMessage,
  format: BodyFormat,
  encoding: string | undefined,
  body: Uint8Array,
  maxBytes: number,
): DecodedBody | ServiceError {
  let payload = body;
  let compressed = encoding !== undefined;
  if (format.enveloped) {
    const frame = singleEnvelope(body);
    if ("message" in frame) return invalid(frame);
    payload = frame.payload;
    compressed = frame.compressed;
    if (compressed && encoding === undefined) {
      return invalid({
        message: `frame is flagged compressed but the request names no ${format.encodingHeader}`,
      });
    }
  }
  if (compressed && encoding !== undefined) {
    // Connect would answer `unimplemented` (a 5xx that agents retry forever) for this.
    if (encoding !== "gzip" && encoding !== "br") {
      return invalid({
        message: `unsupported compression "${encoding}"; use gzip, br or identity`,
      });
    }
    const plain = decompress(payload, encoding, maxBytes);
    if (plain === "too-large") {
      return serviceError("payload_too_large", `request message exceeds ${maxBytes} bytes`);
    }
    if (!(plain instanceof Uint8Array)) return invalid(plain);
    payload = plain;
  }
  if (payload.length > maxBytes) {
    return serviceError("payload_too_large", `request message exceeds ${maxBytes} bytes`);
  }
  const decoded = format.json ? decodeJson(desc, payload) : decodeBinary(desc, payload);
  if ("problem" in decoded) return invalid(decoded.problem);
  return { message: decoded.message, payload };
}

function invalid(problem: WireProblem): ServiceError {
  return problem.field === undefined
    ? serviceError("invalid_argument", problem.message)
    : serviceError("invalid_argument", problem.message, { field: problem.field });
}

type Decoded = { readonly message: Message } | { readonly problem: WireProblem };

function decodeBinary(desc: DescMessage, payload: Uint8Array): Decoded {
  const problem = binaryProblem(desc, payload);
  if (problem !== undefined) return { problem };
  try {
    return { message: fromBinary(desc, payload) };
  } catch (error) {
    return { problem: { message: `parse binary: ${(error as Error).message}` } };
  }
}

function decodeJson(desc: DescMessage, payload: Uint8Array): Decoded {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(payload));
  } catch (error) {
    const what = error instanceof SyntaxError ? error.message : "body is not valid UTF-8";
    return { problem: { message: `body: not valid JSON (${what})` } };
  }
  const problem = jsonProblem(desc, parsed);
  if (problem !== undefined) return { problem };
  try {
    return { message: fromJson(desc, parsed as never, { ignoreUnknownFields: false }) };
  } catch (error) {
    return { problem: { message: (error as Error).message } };
  }
}
