// Answers that are all headers and no body, written so gRPC clients accept them: on HTTP/2 one
// HEADERS frame with END_STREAM, which only the stream API can send.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, OutgoingHttpHeaders } from "node:http2";

/**
 * Sends `status` and `headers` with an empty body. On HTTP/2 this goes through the stream: the
 * compatibility API's writeHead + end sends HEADERS and then an empty DATA frame carrying
 * END_STREAM, which breaks a gRPC Trailers-Only response (Python grpcio reports UNKNOWN "Stream
 * removed", @grpc/grpc-js INTERNAL "RST_STREAM with code 0"). On HTTP/1.1 (gRPC-Web) the same
 * headers go out with `content-length: 0`. Does nothing once an answer has begun.
 */
export function respondHeadersOnly(
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse,
  status: number,
  headers: OutgoingHttpHeaders,
): void {
  if ("stream" in req) {
    const stream = req.stream;
    if (stream.destroyed || stream.headersSent) return;
    stream.respond({ ":status": status, ...headers }, { endStream: true });
    return;
  }
  if (res.headersSent || res.writableEnded) return;
  res.writeHead(status, { ...headers, "content-length": "0" });
  res.end();
}

/** A gRPC or gRPC-Web Trailers-Only answer: HTTP 200 with the status fields as headers. */
export function respondTrailersOnly(
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse,
  contentType: string,
  status: Headers,
): void {
  respondHeadersOnly(req, res, 200, {
    ...Object.fromEntries(status.entries()),
    "content-type": contentType,
  });
}
