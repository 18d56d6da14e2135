// The lean path (issue 15): the hot agent RPCs (PostEvent, PostEvents) in their common form,
// unary POST over HTTP/2 in Connect binary/JSON, gRPC or gRPC-Web without compression or
// deadline, served on the HTTP/2 stream API. connect-node's generic path costs ~5x bare node:http2 per call
// (AbortSignals, header and universal request/response adaptation, async iterables: see
// ARCHITECTURE.md); everything else is handed to it unchanged. Same identity, gate checks
// (decoded once), service implementation, error mapping, metrics and answers, byte for byte.
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { TLSSocket } from "node:tls";
import {
  create,
  type DescMessage,
  type DescMethodUnary,
  isMessage,
  type Message,
  type MessageInitShape,
  type MessageShape,
  toBinary,
  toJsonString,
} from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { Counter } from "prom-client";
import { authorize, type Role } from "./authorize.js";
import type { ConnectionLimiter } from "./connection-limits.js";
import type { RpcFailure } from "./interceptors.js";
import { answerError, answerMessage, LEAN_PROTOCOLS, responseCompression } from "./lean-answer.js";
import type { Metrics } from "./metrics.js";
import { PeerIdentity } from "./peer-identity.js";
import { peerKey } from "./request-context.js";
import {
  codeName,
  fromThrown,
  type ServiceError,
  serviceError,
  toConnectError,
} from "./service-error.js";
import { decodeBody } from "./wire/decode-body.js";
import { readBody } from "./wire/read-body.js";

/** A unary method served lean, with the implementation registered on Connect's router. */
export interface LeanMethod {
  readonly method: DescMethodUnary;
  readonly impl: (request: Message, context: HandlerContext) => Promise<Message>;
}

/**
 * A table row: `impl` is the ServiceImpl's own method. It must only read `context.values`
 * (the peer) and log its own rejections, as the agent pipelines do: the Connect-side
 * interceptors (metrics, auth, error mapping) are done by the lean path itself.
 */
export function leanMethod<I extends DescMessage, O extends DescMessage>(
  method: DescMethodUnary<I, O>,
  impl: (
    request: MessageShape<I>,
    context: HandlerContext,
  ) => Promise<MessageInitShape<O>> | MessageInitShape<O>,
): LeanMethod {
  return {
    method: method as unknown as DescMethodUnary,
    impl: async (request, context) => {
      const out = await impl(request as MessageShape<I>, context);
      return (isMessage(out, method.output) ? out : create(method.output, out)) as Message;
    },
  };
}

export interface LeanPathOptions {
  readonly methods: readonly LeanMethod[];
  readonly authenticate: (socket: TLSSocket | undefined) => PeerIdentity | ServiceError;
  readonly roles: ReadonlyMap<string, Role>;
  /** Largest request message (as the gate's readMaxBytes). */
  readonly readMaxBytes: number;
  readonly metrics: Metrics;
  readonly retryAfterSeconds: number;
  /** True while the door sheds (early-shed.ts): the request is then answered by `shed`. */
  readonly isSaturated: () => boolean;
  /** Answers a request shed at the door, counting it as the compat path's shed does. */
  readonly shed: (stream: ServerHttp2Stream, contentType: string, rpc: string) => void;
  /** Hears refusals before the implementation runs (as the auth interceptor's onReject). */
  readonly onRejected?: (failure: RpcFailure) => void;
  /** Hears what an implementation threw that is not a ConnectError (as the error mapping). */
  readonly onThrown?: (error: unknown) => void;
  readonly limiter?: ConnectionLimiter;
}

/** Serves `stream` when it is a lean request and returns true; false leaves it to Node's compat. */
export type LeanPath = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean;

/** Creates the lean path over a table of methods. */
export function createLeanPath(options: LeanPathOptions): LeanPath {
  const { roles, readMaxBytes, metrics, retryAfterSeconds, limiter } = options;
  const onRejected = options.onRejected ?? (() => {});
  const onThrown = options.onThrown ?? (() => {});
  const table = new Map(
    options.methods.map((m) => [
      `/${m.method.parent.typeName}/${m.method.name}`,
      { ...m, rpc: `${m.method.parent.typeName}/${m.method.name}` },
    ]),
  );
  const limit = readMaxBytes + 5;
  // Which share of the traffic the lean path takes (and a test's proof it took a request).
  const served = new Counter({
    name: "nixfleet_cp_lean_path_requests_total",
    help: "RPCs answered on the lean path (--lean-path); the rest of nixfleet_cp_requests_total went through connect-node.",
    labelNames: ["rpc"] as const,
    registers: [metrics.registry],
  });

  return (stream, headers) => {
    if (headers[":method"] !== "POST") return false;
    const entry = table.get(headers[":path"] ?? "");
    const p = LEAN_PROTOCOLS.get(headers["content-type"] ?? "");
    if (entry === undefined || p === undefined) return false;
    // Compression and deadlines are connect-node's to implement.
    const encoding = headers[p.format.encodingHeader];
    if (encoding !== undefined && encoding !== "identity") return false;
    if (headers["grpc-timeout"] !== undefined || headers["connect-timeout-ms"] !== undefined) {
      return false;
    }
    served.inc({ rpc: entry.rpc });
    if (options.isSaturated()) {
      options.shed(stream, headers["content-type"] as string, entry.rpc);
      return true;
    }
    limiter?.guardStream(stream);
    stream.on("error", () => {});
    const { method, impl, rpc } = entry;
    const compression = responseCompression(p, headers);
    const peer = options.authenticate(stream.session?.socket as TLSSocket | undefined);

    const fail = (error: ConnectError): void => {
      metrics.requests.inc({ rpc, protocol: p.name, code: codeName(error.code) });
      void answerError(stream, p, error, compression);
    };
    const refuse = (error: ServiceError): void => {
      stream.resume();
      onRejected({
        rpc,
        code: error.code,
        reason: error.message,
        ...(peer instanceof PeerIdentity ? { peer: peer.commonName } : {}),
      });
      fail(toConnectError(error));
    };
    const refused = authorize(peer, method.parent.typeName, roles);
    if (refused !== undefined) {
      refuse(refused);
      return true;
    }
    readBody(stream, headers["content-length"], limit, (body) => {
      if (body === "too-large") {
        return refuse(
          serviceError("payload_too_large", `request message exceeds ${readMaxBytes} bytes`),
        );
      }
      const decoded = decodeBody(method.input, p.format, undefined, body, readMaxBytes);
      if ("code" in decoded) return refuse(decoded);
      const values = createContextValues().set(peerKey, peer);
      impl(decoded.message, leanContext(entry.method, p.name, stream, headers, values))
        .then(
          (response) => {
            metrics.requests.inc({ rpc, protocol: p.name, code: "ok" });
            const bytes = p.format.json
              ? Buffer.from(toJsonString(method.output, response))
              : toBinary(method.output, response);
            limiter?.beforeWrite(stream.session, bytes.byteLength);
            return answerMessage(stream, p, bytes, compression);
          },
          (error: unknown) => {
            // The peer is gone: nobody to answer (Connect's error mapping rethrows alike).
            if (stream.destroyed && !(error instanceof ConnectError)) return;
            if (error instanceof ConnectError) return fail(error);
            onThrown(error);
            fail(toConnectError(fromThrown(error, retryAfterSeconds)));
          },
        )
        .catch((error: unknown) => {
          console.error(`lean answer for ${rpc} failed`, error);
          fail(new ConnectError("internal error", Code.Internal));
        });
    });
    return true;
  };
}

/**
 * The HandlerContext an implementation sees; only `values` is eager, the rest (an
 * AbortSignal, Headers objects: most of connect-node's per-call cost) is built if read. The
 * signal aborts when the stream closes, answered or not, as Connect's does when a call ends.
 */
function leanContext(
  method: DescMethodUnary,
  protocolName: string,
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  values: HandlerContext["values"],
): HandlerContext {
  let signal: AbortSignal | undefined;
  let requestHeader: Headers | undefined;
  let responseHeader: Headers | undefined;
  let responseTrailer: Headers | undefined;
  return {
    method,
    service: method.parent,
    requestMethod: "POST",
    protocolName,
    url: String(headers[":path"]),
    values,
    timeoutMs: () => undefined,
    get signal() {
      if (signal === undefined) {
        const controller = new AbortController();
        if (stream.closed) controller.abort();
        else stream.once("close", () => controller.abort());
        signal = controller.signal;
      }
      return signal;
    },
    get requestHeader() {
      requestHeader ??= new Headers(
        Object.entries(headers).flatMap(([k, v]) =>
          k.startsWith(":") || v === undefined ? [] : [[k, String(v)] as [string, string]],
        ),
      );
      return requestHeader;
    },
    get responseHeader() {
      responseHeader ??= new Headers();
      return responseHeader;
    },
    get responseTrailer() {
      responseTrailer ??= new Headers();
      return responseTrailer;
    },
  };
}
