// The answers of the lean path (lean-path.ts), written on the HTTP/2 stream exactly as
// connect-node, with connect-handler.ts's strict gRPC, writes them through the compatibility
// API: same status, headers, body and trailers, built with @connectrpc/connect's own helpers.
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { ConnectError } from "@connectrpc/connect";
import { type Compression, compressionNegotiate } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { trailerFlag, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { COMPRESSIONS } from "./connect-handler.js";
import { grpcStatusFields } from "./grpc-status.js";
import { type BodyFormat, bodyFormat, envelope } from "./wire/request-body.js";

/** One content type the lean path serves, and how its answers are written. */
export interface LeanProtocol {
  /** The metrics label: connect, grpc or grpc-web. */
  readonly name: "connect" | "grpc" | "grpc-web";
  readonly format: BodyFormat;
  /** The content type of a successful answer. */
  readonly responseType: string;
  /** The request header naming the compression the client accepts. */
  readonly acceptHeader: string;
}

function protocol(contentType: string, name: LeanProtocol["name"], responseType: string) {
  const format = bodyFormat(contentType) as BodyFormat;
  const acceptHeader = name === "connect" ? "accept-encoding" : "grpc-accept-encoding";
  return [contentType, { name, format, responseType, acceptHeader }] as const;
}

/** The content types served lean (exact values: anything else is connect-node's). */
export const LEAN_PROTOCOLS: ReadonlyMap<string, LeanProtocol> = new Map([
  protocol("application/proto", "connect", "application/proto"),
  protocol("application/json", "connect", "application/json"),
  protocol("application/grpc", "grpc", "application/grpc+proto"),
  protocol("application/grpc+proto", "grpc", "application/grpc+proto"),
  protocol("application/grpc-web", "grpc-web", "application/grpc-web+proto"),
  protocol("application/grpc-web+proto", "grpc-web", "application/grpc-web+proto"),
]);

// connect-node's default: smaller messages are never compressed.
const COMPRESS_MIN_BYTES = 1024;

/** The response compression connect-node would negotiate for this request, if any. */
export function responseCompression(
  p: LeanProtocol,
  headers: IncomingHttpHeaders,
): Compression | null {
  const accepted = headers[p.acceptHeader];
  if (accepted === undefined) return null;
  const value = Array.isArray(accepted) ? accepted.join(",") : accepted;
  return compressionNegotiate([...COMPRESSIONS], null, value, p.acceptHeader).response;
}

/** Answers a successful call with the serialized response message. */
export async function answerMessage(
  stream: ServerHttp2Stream,
  p: LeanProtocol,
  message: Uint8Array,
  compression: Compression | null,
): Promise<void> {
  const headers: OutgoingHttpHeaders = { ":status": 200, "content-type": p.responseType };
  const big = compression !== null && message.byteLength >= COMPRESS_MIN_BYTES;
  const body = big ? await compression.compress(message) : message;
  if (p.name === "connect") {
    if (big) headers["content-encoding"] = compression.name;
    headers["content-length"] = String(body.byteLength);
    return respond(stream, headers, body);
  }
  if (compression !== null) headers["grpc-encoding"] = compression.name;
  const frame = envelope(body, big ? 0x01 : 0);
  if (p.name === "grpc") return respond(stream, headers, frame, { "grpc-status": "0" });
  const trailer = await trailerEnvelope(new Headers({ "grpc-status": "0" }), compression);
  respond(stream, headers, Buffer.concat([frame, trailer]));
}

/** The gRPC-Web trailer envelope, compressed past the same size as messages. */
async function trailerEnvelope(
  fields: Headers,
  compression: Compression | null,
): Promise<Uint8Array> {
  const data = trailerSerialize(fields);
  if (compression === null || data.byteLength < COMPRESS_MIN_BYTES) {
    return envelope(data, trailerFlag);
  }
  return envelope(await compression.compress(data), trailerFlag | 0x01);
}

/** Answers `error` in the request's protocol. */
export async function answerError(
  stream: ServerHttp2Stream,
  p: LeanProtocol,
  error: ConnectError,
  compression: Compression | null,
): Promise<void> {
  if (p.name === "connect") {
    const headers: OutgoingHttpHeaders = {
      ":status": codeToHttpStatus(error.code),
      "content-type": "application/json",
    };
    for (const [key, value] of error.metadata) headers[key] = value;
    let body = errorToJsonBytes(error, {});
    if (compression !== null && body.byteLength >= COMPRESS_MIN_BYTES) {
      body = await compression.compress(body);
      headers["content-encoding"] = compression.name;
    }
    headers["content-length"] = String(body.byteLength);
    return respond(stream, headers, body);
  }
  const headers: OutgoingHttpHeaders = { ":status": 200, "content-type": p.responseType };
  if (compression !== null) headers["grpc-encoding"] = compression.name;
  const status = grpcStatusFields(error);
  if (p.name === "grpc") return respond(stream, headers, undefined, Object.fromEntries(status));
  respond(stream, headers, await trailerEnvelope(status, compression));
}

/** Writes headers, body and (gRPC) trailers, unless the peer is gone or an answer began. */
function respond(
  stream: ServerHttp2Stream,
  headers: OutgoingHttpHeaders,
  body: Uint8Array | undefined,
  trailers?: OutgoingHttpHeaders,
): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  if (trailers === undefined) {
    stream.respond(headers);
  } else {
    stream.respond(headers, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers(trailers));
  }
  stream.end(body);
}
