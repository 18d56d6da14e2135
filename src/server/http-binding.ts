// The HTTP JSON binding POST /v1/agent/events (SPEC §3.2): the body existing agents send,
// translated to the same PostEvent pipeline, answered with SPEC §3.3's statuses (a refusal
// on the merits 202 with the verdict by default, so existing agents never wedge: SPEC §10).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { AgentEventsService } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { decodePostEventJson } from "./convert/decode-post-event.js";
import { createJsonRoute, parseJsonBody, postPathOf } from "./json-route.js";
import type { PeerIdentity } from "./peer-identity.js";
import type { PostEvent } from "./post-event.js";
import { type ServiceError, toHttpRefusal } from "./service-error.js";

/**
 * How the binding answers a recorded refusal: `record` (default) 202 with the verdict, so
 * existing agents never wedge; `status` the truthful 404 / 409 / 400 of SPEC §3.3.
 */
export type BindingRefusals = "record" | "status";

type Request = IncomingMessage | Http2ServerRequest;
// Both response kinds share this surface; their writeHead overloads do not unify.
type Response = ServerResponse;

/** The binding's path, read from PostEvent's google.api.http annotation. */
export const POST_EVENT_PATH = postPathOf(AgentEventsService.method.postEvent);

export interface HttpBindingOptions {
  readonly postEvent: PostEvent;
  /** Authenticates the request's TLS peer. */
  readonly authenticate: (req: Request) => PeerIdentity | ServiceError;
  readonly maxBodyBytes: number;
  /** How recorded refusals are answered (default record). */
  readonly refusals?: BindingRefusals;
  /** Called once per answered request with the HTTP status. */
  readonly onResponse?: (status: number) => void;
  /** Called for requests refused before the PostEvent pipeline (which logs its own). */
  readonly onRefused?: (error: ServiceError, peer: string | undefined) => void;
}

/** Creates the request handler for the binding's path. */
export function createHttpBinding(
  options: HttpBindingOptions,
): (req: Request, res: Response) => void {
  const { postEvent, refusals = "record", ...route } = options;
  return createJsonRoute({
    ...route,
    async handle(peer, body) {
      const decode = () => {
        const parsed = parseJsonBody(body);
        return parsed.ok ? decodePostEventJson(parsed.value) : parsed;
      };
      const result = await postEvent(peer, decode, {
        protocol: "http-json",
        request: () => Buffer.from(body).toString("utf8"),
      });
      if ("code" in result) return result;
      if (result.outcome !== "refused") return { status: 204, headers: {} };
      return refusals === "status" ? result.error : toHttpRefusal(result.refusal);
    },
  });
}
