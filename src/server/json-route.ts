// A POST route taking a JSON body over mTLS, as the agent bindings need it (SPEC §3.2, §8):
// method, identity, content type and size are checked before the body is read; the handler
// then answers with a status, headers and body of its own.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { type DescMethod, getOption } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.js";
import { PeerIdentity } from "./peer-identity.js";
import { type ServiceError, serviceError, toHttpError } from "./service-error.js";

type Request = IncomingMessage | Http2ServerRequest;
// Both response kinds share this surface; their writeHead overloads do not unify.
type Response = ServerResponse;

/** A handler's answer. */
export interface JsonReply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

export interface JsonRouteOptions {
  /** Authenticates the request's TLS peer. */
  readonly authenticate: (req: Request) => PeerIdentity | ServiceError;
  readonly maxBodyBytes: number;
  /** Answers a request whose body was read in full (parse it with parseJsonBody). */
  readonly handle: (peer: PeerIdentity, body: Uint8Array) => Promise<JsonReply | ServiceError>;
  /** Called once per answered request with the HTTP status. */
  readonly onResponse?: (status: number) => void;
  /** Called for requests refused before `handle` (which reports its own). */
  readonly onRefused?: (error: ServiceError, peer: string | undefined) => void;
}

/** A binding's path, read from the RPC's google.api.http annotation (which must be a POST). */
export function postPathOf(method: DescMethod): string {
  const rule = getOption(method, http);
  if (rule.pattern.case !== "post")
    throw new Error(`${method.name} must be annotated with an HTTP POST`);
  return rule.pattern.value;
}

/** Creates the request handler of one JSON route. */
export function createJsonRoute(options: JsonRouteOptions): (req: Request, res: Response) => void {
  const { authenticate, maxBodyBytes, handle, onResponse, onRefused } = options;

  function send(
    res: Response,
    status: number,
    headers: Record<string, string>,
    body?: string,
  ): void {
    onResponse?.(status);
    if (res.headersSent || res.writableEnded) return;
    res.writeHead(status, headers);
    res.end(body);
  }
  function refuse(
    res: Response,
    error: ServiceError,
    peer: PeerIdentity | ServiceError | undefined,
    extra: Record<string, string> = {},
  ): void {
    onRefused?.(error, peer instanceof PeerIdentity ? peer.commonName : undefined);
    sendError(res, error, extra);
  }
  function sendError(res: Response, error: ServiceError, extra: Record<string, string> = {}): void {
    const { status, headers, body } = toHttpError(error);
    send(res, status, { ...headers, ...extra }, body);
  }

  return (req, res) => {
    if (req.method !== "POST") {
      req.resume();
      refuse(
        res,
        serviceError("method_not_allowed", `${req.method} is not allowed; use POST`),
        undefined,
        { allow: "POST" },
      );
      return;
    }
    const peer = authenticate(req);
    if (!(peer instanceof PeerIdentity)) {
      req.resume();
      refuse(res, peer, undefined);
      return;
    }
    const contentType = String(req.headers["content-type"] ?? "");
    if (!/^application\/json\s*(;|$)/i.test(contentType)) {
      req.resume();
      refuse(
        res,
        serviceError(
          "unsupported_media_type",
          `content-type must be application/json, got "${contentType}"`,
        ),
        peer,
      );
      return;
    }
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > maxBodyBytes) {
      req.resume();
      refuse(res, tooLarge(maxBodyBytes), peer);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let aborted = false;
    req.on("data", (chunk: Buffer) => {
      if (aborted) return;
      size += chunk.length;
      if (size > maxBodyBytes) {
        aborted = true;
        refuse(res, tooLarge(maxBodyBytes), peer);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (aborted) return;
      const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      handle(peer, bytes).then(
        (reply) => {
          if ("code" in reply) sendError(res, reply);
          else send(res, reply.status, reply.headers, reply.body);
        },
        // Handlers answer with error values; a throw is a bug whose text stays in the log.
        () => refuse(res, serviceError("internal", "internal error"), peer),
      );
    });
    req.on("error", () => {
      aborted = true;
    });
  };
}

/**
 * Parses a JSON body, or says why it is not JSON (as a `body` field error). Invalid UTF-8 is
 * refused, not silently turned into U+FFFD (issue 11).
 */
export function parseJsonBody(
  bytes: Uint8Array,
): { ok: true; value: unknown } | { ok: false; error: { field: string; message: string } } {
  try {
    return { ok: true, value: JSON.parse(utf8.decode(bytes)) };
  } catch (error) {
    return {
      ok: false,
      error: {
        field: "body",
        message:
          error instanceof SyntaxError
            ? `body: not valid JSON (${error.message})`
            : "body: not valid UTF-8",
      },
    };
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function tooLarge(max: number): ServiceError {
  return serviceError("payload_too_large", `body exceeds ${max} bytes`);
}
