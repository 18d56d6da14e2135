// The Connect adapter (Connect, gRPC, gRPC-Web) as connect-node builds it, with the gRPC wire
// made strict: grpc-message encoded as the gRPC spec says, bodiless answers as one HTTP/2
// HEADERS frame with END_STREAM, and unknown gRPC methods answered UNIMPLEMENTED.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { Code, ConnectError, type ContextValues, createConnectRouter } from "@connectrpc/connect";
import {
  type Compression,
  type EnvelopedMessage,
  encodeEnvelope,
  envelopeCompress,
  envelopeDecompress,
  type UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import { trailerFlag, trailerParse, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import {
  type ConnectNodeAdapterOptions,
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import type { Replacement, RequestGate } from "./connect-gate.js";
import { grpcStatusFields, respecGrpcMessage } from "./grpc-status.js";
import { respondHeadersOnly, respondTrailersOnly } from "./trailers-only.js";

type Request = IncomingMessage | Http2ServerRequest;

/** The compressions Connect negotiates (and the lean path mirrors). */
export const COMPRESSIONS: readonly Compression[] = [compressionGzip, compressionBrotli];

/**
 * Creates the request handler for `options.routes`, like connect-node's connectNodeAdapter
 * (whose options it takes) but answering gRPC and gRPC-Web as strict clients expect.
 */
export function createConnectHandler(
  options: ConnectNodeAdapterOptions & {
    /** Runs before Connect reads a request (connect-gate.ts): authorization, strict body. */
    readonly gate?: RequestGate;
  },
): (req: Request, res: ServerResponse) => void {
  const { gate, ...adapterOptions } = options;
  const router = createConnectRouter({
    acceptCompression: [...COMPRESSIONS],
    ...adapterOptions,
  });
  options.routes(router);
  const handlers = new Map(router.handlers.map((h) => [h.requestPath, h]));

  return (req, res) => {
    const path = (req.url ?? "").split("?", 1)[0] ?? "";
    const handler = handlers.get(path);
    if (handler === undefined) {
      req.resume();
      const error = new ConnectError(`unknown method ${path}`, Code.Unimplemented);
      return answerError(req, res, error, 404);
    }
    const fail = (reason: unknown): void => {
      // An aborted call has nobody left to answer; anything else is a bug worth a line, and
      // whoever still waits gets an answer rather than a stream that never ends.
      if (ConnectError.from(reason).code === Code.Aborted) return;
      console.error(`handler for ${path} failed`, reason);
      answerError(req, res, new ConnectError("internal error", Code.Internal), 500);
    };
    let context: ContextValues | undefined;
    const run = (replace?: Replacement): void => {
      try {
        const uReq = universalRequestFromNodeRequest(
          req as never,
          res as never,
          undefined,
          context,
        );
        handler(replace ? replace(uReq) : uReq)
          .then((uRes) => writeResponse(req, res, strictGrpc(uRes)))
          .catch(fail);
      } catch (error) {
        fail(error);
      }
    };
    try {
      context = options.contextValues?.(req as never);
      if (gate !== undefined && context !== undefined) gate(req, handler, context, run);
      else run();
    } catch (error) {
      fail(error);
    }
  };
}

/** Writes `uRes`; a response without body and trailers goes out as one HEADERS frame. */
function writeResponse(req: Request, res: ServerResponse, uRes: UniversalServerResponse) {
  if (uRes.body === undefined && uRes.trailer === undefined) {
    respondHeadersOnly(req, res, uRes.status, Object.fromEntries(uRes.header?.entries() ?? []));
    return Promise.resolve();
  }
  return universalResponseToNodeResponse(uRes, res as never);
}

/**
 * Answers `error` without a body, unless an answer has begun: Trailers-Only to a gRPC or
 * gRPC-Web client, `httpStatus` to anyone else.
 */
function answerError(
  req: Request,
  res: ServerResponse,
  error: ConnectError,
  httpStatus: number,
): void {
  const contentType = String(req.headers["content-type"] ?? "");
  if (contentType.startsWith("application/grpc"))
    respondTrailersOnly(req, res, contentType, grpcStatusFields(error));
  else respondHeadersOnly(req, res, httpStatus, {});
}

/**
 * Re-encodes grpc-message in Connect's answer: in the HTTP/2 trailers for gRPC (read once the
 * body is done, when Connect has set them), in the trailer envelope of the body for gRPC-Web.
 */
function strictGrpc(uRes: UniversalServerResponse): UniversalServerResponse {
  const contentType = uRes.header?.get("content-type") ?? "";
  if (contentType.startsWith("application/grpc-web")) {
    if (uRes.body === undefined) return uRes;
    const name = uRes.header?.get("grpc-encoding");
    const compression = COMPRESSIONS.find((c) => c.name === name) ?? null;
    return { ...uRes, body: respecTrailerEnvelope(uRes.body, compression) };
  }
  if (contentType.startsWith("application/grpc")) {
    const trailer = uRes.trailer;
    if (trailer === undefined) return uRes;
    return {
      status: uRes.status,
      ...(uRes.header ? { header: uRes.header } : {}),
      ...(uRes.body ? { body: uRes.body } : {}),
      get trailer() {
        return respecGrpcMessage(trailer);
      },
    };
  }
  return uRes;
}

/** Passes the body through, rewriting grpc-message in the gRPC-Web trailer envelope. */
async function* respecTrailerEnvelope(
  body: AsyncIterable<Uint8Array>,
  compression: Compression | null,
): AsyncIterable<Uint8Array> {
  // Connect yields exactly one envelope per chunk; the trailer envelope comes last.
  for await (const chunk of body) {
    const flags = chunk[0] ?? 0;
    if ((flags & trailerFlag) === 0 || chunk.length < 5) {
      yield chunk;
      continue;
    }
    let envelope: EnvelopedMessage = { flags, data: chunk.subarray(5) };
    const compressed = (flags & 0b1) !== 0;
    if (compressed) {
      if (compression === null) {
        yield chunk;
        continue;
      }
      // Our own output, so no tighter bound than zlib's largest is needed.
      envelope = await envelopeDecompress(envelope, compression, 0xffffffff);
    }
    const trailer = respecGrpcMessage(trailerParse(envelope.data));
    envelope = { flags: envelope.flags, data: trailerSerialize(trailer) };
    if (compressed && compression !== null)
      envelope = await envelopeCompress(envelope, compression, 0);
    yield encodeEnvelope(envelope.flags, envelope.data);
  }
}
