// The HTTP JSON binding POST /v1/agent/events (SPEC §3.2): the body existing agents send,
// translated to the same PostEvent pipeline, answered with SPEC §3.3's statuses.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { getOption } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.js";
import { AgentEventsService } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { decodePostEventJson } from "./convert/decode-post-event.js";
import { PeerIdentity } from "./peer-identity.js";
import type { PostEvent } from "./post-event.js";
import { type ServiceError, serviceError, toHttpError } from "./service-error.js";

type Request = IncomingMessage | Http2ServerRequest;
// Both response kinds share this surface; their writeHead overloads do not unify.
type Response = ServerResponse;

/** The binding's path, read from PostEvent's google.api.http annotation. */
export const POST_EVENT_PATH = (() => {
  const rule = getOption(AgentEventsService.method.postEvent, http);
  if (rule.pattern.case !== "post")
    throw new Error("PostEvent must be annotated with an HTTP POST");
  return rule.pattern.value;
})();

export interface HttpBindingOptions {
  readonly postEvent: PostEvent;
  /** Authenticates the request's TLS peer. */
  readonly authenticate: (req: Request) => PeerIdentity | ServiceError;
  readonly maxBodyBytes: number;
  /** Called once per answered request with the HTTP status. */
  readonly onResponse?: (status: number) => void;
  /** Called for requests refused before the PostEvent pipeline (which logs its own). */
  readonly onRefused?: (error: ServiceError, peer: string | undefined) => void;
}

/** Creates the request handler for the binding's path. */
export function createHttpBinding(
  options: HttpBindingOptions,
): (req: Request, res: Response) => void {
  const { postEvent, authenticate, maxBodyBytes, onResponse, onRefused } = options;

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
      const text =
        chunks.length === 1
          ? (chunks[0] as Buffer).toString("utf8")
          : Buffer.concat(chunks).toString("utf8");
      postEvent(peer, () => {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch (error) {
          return {
            ok: false,
            error: { field: "body", message: `body: not valid JSON (${(error as Error).message})` },
          };
        }
        return decodePostEventJson(body);
      }).then(
        (result) => {
          if ("code" in result) sendError(res, result);
          else send(res, 204, {});
        },
        (error: unknown) => refuse(res, serviceError("internal", String(error)), peer),
      );
    });
    req.on("error", () => {
      aborted = true;
    });
  };
}

function tooLarge(max: number): ServiceError {
  return serviceError("payload_too_large", `body exceeds ${max} bytes`);
}
