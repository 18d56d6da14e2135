// The gate in front of Connect's handlers (connect-handler.ts): authorizes by the RPC's path and
// the peer's role before reading any body (an agent never learns an operator schema from a
// 400), then reads unary request bodies whole and checks their framing and encoding strictly,
// so every malformed request is `invalid_argument` naming the problem rather than the
// `internal` Connect answers for a protobuf it cannot parse (issue 11).
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import type { DescMessage } from "@bufbuild/protobuf";
import type { ContextValues } from "@connectrpc/connect";
import {
  createAsyncIterable,
  type UniversalHandler,
  type UniversalServerRequest,
} from "@connectrpc/connect/protocol";
import { authorize, type Role } from "./authorize.js";
import { gateErrorKey, peerKey } from "./request-context.js";
import { type ServiceError, serviceError } from "./service-error.js";
import { decodeBody } from "./wire/decode-body.js";
import { readBody } from "./wire/read-body.js";
import { type BodyFormat, bodyFormat, envelope } from "./wire/request-body.js";

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
    readBody(req, req.headers["content-length"], readMaxBytes + 5, (body) => {
      if (body === "too-large") {
        const error = serviceError(
          "payload_too_large",
          `request message exceeds ${readMaxBytes} bytes`,
        );
        return proceed(replacement(context, format, { error }));
      }
      const encoding = headerValue(req, format.encodingHeader);
      const checked = checkBody(handler.method.input, format, encoding, body, readMaxBytes);
      proceed(replacement(context, format, "code" in checked ? { error: checked } : checked));
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
  const decoded = decodeBody(desc, format, encoding, body, maxBytes);
  if ("code" in decoded) return decoded;
  return { body: format.enveloped ? envelope(decoded.payload) : decoded.payload };
}
