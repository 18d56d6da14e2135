// The gate in front of Connect's handlers (connect-handler.ts): authorizes by the RPC's path and
// the peer's role before reading any body (an agent never learns an operator schema from a
// 400), then reads unary request bodies whole and checks their framing and encoding strictly,
// so every malformed request is `invalid_argument` naming the problem rather than the
// `internal` Connect answers for a protobuf it cannot parse (issue 11).
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { type DescMessage, fromBinary, fromJson } from "@bufbuild/protobuf";
import type { ContextValues } from "@connectrpc/connect";
import {
  createAsyncIterable,
  type UniversalHandler,
  type UniversalServerRequest,
} from "@connectrpc/connect/protocol";
import { authorize, type Role } from "./authorize.js";
import { gateErrorKey, peerKey } from "./request-context.js";
import { type ServiceError, serviceError } from "./service-error.js";
import { jsonProblem } from "./wire/json-check.js";
import {
  type BodyFormat,
  bodyFormat,
  decompress,
  envelope,
  singleEnvelope,
} from "./wire/request-body.js";
import { binaryProblem, type WireProblem } from "./wire/strict-binary.js";

type Request = IncomingMessage | Http2ServerRequest;

/** Rewrites the universal request Connect will read (its body, or the error to answer). */
export type Replacement = (uReq: UniversalServerRequest) => UniversalServerRequest;

/**
 * Runs before Connect reads a request: calls `proceed` once, with a replacement when the gate
 * read the body (or refused the request).
 */
export type RequestGate = (
  req: Request,
  handler: UniversalHandler,
  context: ContextValues,
  proceed: (replace?: Replacement) => void,
) => void;

export interface RequestGateOptions {
  /** Largest request message, after decompression. */
  readonly readMaxBytes: number;
  /** The role each service requires. */
  readonly roles: ReadonlyMap<string, Role>;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const EMPTY = new Uint8Array(0);
const EMPTY_JSON = new TextEncoder().encode("{}");

/** Creates the gate in front of Connect's handlers. */
export function createRequestGate(options: RequestGateOptions): RequestGate {
  const { readMaxBytes, roles } = options;

  function replacement(
    context: ContextValues,
    format: BodyFormat | undefined,
    replace: { body: Uint8Array } | { error: ServiceError },
  ): Replacement {
    let body: Uint8Array;
    if ("error" in replace) {
      // Connect answers in the request's own protocol; the auth interceptor throws this
      // error before any handler runs, so a neutral empty message stands in for the body.
      context.set(gateErrorKey, replace.error);
      const empty = format?.json ? EMPTY_JSON : EMPTY;
      body = format?.enveloped ? envelope(empty) : empty;
    } else body = replace.body;
    return (uReq) => {
      if (format !== undefined) uReq.header.delete(format.encodingHeader);
      return { ...uReq, body: createAsyncIterable([body]) };
    };
  }

  return (req, handler, context, proceed) => {
    const format = bodyFormat(String(req.headers["content-type"] ?? ""));
    const refused = authorize(context.get(peerKey), handler.service.typeName, roles);
    if (refused !== undefined) {
      req.resume();
      return proceed(replacement(context, format, { error: refused }));
    }
    const kind = handler.method.methodKind;
    // Streams of requests (reflection) and GET requests are Connect's to read.
    if (
      format === undefined ||
      req.method !== "POST" ||
      kind === "client_streaming" ||
      kind === "bidi_streaming"
    ) {
      return proceed();
    }
    const limit = readMaxBytes + 5;
    const declared = Number(req.headers["content-length"] ?? 0);
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const tooLarge = () =>
      serviceError("payload_too_large", `request message exceeds ${readMaxBytes} bytes`);
    if (declared > limit) {
      done = true;
      req.resume();
      return proceed(replacement(context, format, { error: tooLarge() }));
    }
    req.on("data", (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        req.resume();
        proceed(replacement(context, format, { error: tooLarge() }));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (done) return;
      done = true;
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      const encoding = headerValue(req, format.encodingHeader);
      const checked = checkBody(handler.method.input, format, encoding, body, readMaxBytes);
      proceed(replacement(context, format, "code" in checked ? { error: checked } : checked));
    });
    req.on("error", () => {
      done = true;
    });
  };
}

function headerValue(req: Request, name: string): string | undefined {
  const v = req.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s === "" || s === "identity" ? undefined : s.toLowerCase();
}

/**
 * The request body as Connect should read it (uncompressed, one plain envelope), an error
 * naming what is wrong.
 */
export function checkBody(
  desc: DescMessage,
  format: BodyFormat,
  encoding: string | undefined,
  body: Uint8Array,
  maxBytes: number,
): { body: Uint8Array } | ServiceError {
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
  const problem = format.json ? jsonBodyProblem(desc, payload) : binaryBodyProblem(desc, payload);
  if (problem !== undefined) return invalid(problem);
  return { body: format.enveloped ? envelope(payload) : payload };
}

function invalid(problem: WireProblem): ServiceError {
  return problem.field === undefined
    ? serviceError("invalid_argument", problem.message)
    : serviceError("invalid_argument", problem.message, { field: problem.field });
}

function binaryBodyProblem(desc: DescMessage, payload: Uint8Array): WireProblem | undefined {
  const problem = binaryProblem(desc, payload);
  if (problem !== undefined) return problem;
  try {
    fromBinary(desc, payload);
    return undefined;
  } catch (error) {
    return { message: `parse binary: ${(error as Error).message}` };
  }
}

function jsonBodyProblem(desc: DescMessage, payload: Uint8Array): WireProblem | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(payload));
  } catch (error) {
    const what = error instanceof SyntaxError ? error.message : "body is not valid UTF-8";
    return { message: `body: not valid JSON (${what})` };
  }
  const problem = jsonProblem(desc, parsed);
  if (problem !== undefined) return problem;
  try {
    fromJson(desc, parsed as never, { ignoreUnknownFields: false });
    return undefined;
  } catch (error) {
    return { message: (error as Error).message };
  }
}
