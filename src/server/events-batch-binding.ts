// The HTTP JSON binding POST /v1/agent/events:batch (PostEvents): one host's events, each in
// the single-event binding's shape, answered 200 with one verdict per event, each carrying the
// status POST /v1/agent/events would have answered for that event alone.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { AgentEventsService } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { type DecodeResult, decodePostEventJson } from "./convert/decode-post-event.js";
import type { BindingRefusals } from "./http-binding.js";
import { createJsonRoute, parseJsonBody, postPathOf } from "./json-route.js";
import type { PeerIdentity } from "./peer-identity.js";
import type { PostEventResult } from "./post-event.js";
import type { BatchedEventSource, PostEvents } from "./post-events.js";
import { type ServiceError, serviceError, toHttpError, toHttpRefusal } from "./service-error.js";

/** The batch binding's path, read from PostEvents' google.api.http annotation. */
export const POST_EVENTS_PATH = postPathOf(AgentEventsService.method.postEvents);

export interface EventsBatchBindingOptions {
  readonly postEvents: PostEvents;
  readonly authenticate: (req: IncomingMessage | Http2ServerRequest) => PeerIdentity | ServiceError;
  readonly maxBodyBytes: number;
  /** How recorded refusals are answered in a verdict (default record: 202). */
  readonly refusals?: BindingRefusals;
  readonly onResponse?: (status: number) => void;
  readonly onRefused?: (error: ServiceError, peer: string | undefined) => void;
}

/** Creates the request handler for the batch binding's path. */
export function createEventsBatchBinding(
  options: EventsBatchBindingOptions,
): (req: IncomingMessage | Http2ServerRequest, res: ServerResponse) => void {
  const { postEvents, refusals = "record", ...route } = options;
  return createJsonRoute({
    ...route,
    async handle(peer, body) {
      const parsed = parseJsonBody(body);
      if (!parsed.ok) return serviceError("invalid_argument", parsed.error.message, parsed.error);
      const call = readCall(parsed.value);
      if ("code" in call) return call;
      const result = await postEvents(peer, call, "http-json");
      if ("code" in result) return result;
      return {
        status: 200,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ verdicts: result.verdicts.map((v) => verdictJson(v, refusals)) }),
      };
    },
  });
}

/**
 * The call's hostname and events. Each event is `{rolloutId, event, signature?}` as in the
 * single-event body (`rollout_id` is taken too, as proto JSON readers take both spellings) and
 * decodes exactly as that body would, so its errors name the same fields.
 */
function readCall(
  body: unknown,
): { hostname: string; events: BatchedEventSource[] } | ServiceError {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return invalid("body", "body: must be a JSON object");
  }
  const { hostname, events } = body as Record<string, unknown>;
  if (typeof hostname !== "string") return invalid("hostname", "hostname: must be a string");
  if (!Array.isArray(events)) return invalid("events", "events: must be an array");
  return {
    hostname,
    events: events.map((entry: unknown, i): BatchedEventSource => {
      if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
        const error = { field: `events[${i}]`, message: `events[${i}]: must be a JSON object` };
        return { decode: (): DecodeResult => ({ ok: false, error }), request: () => "null" };
      }
      const e = entry as Record<string, unknown>;
      const single = {
        hostname,
        rolloutId: e["rolloutId"] ?? e["rollout_id"],
        event: e["event"],
        ...(e["signature"] === undefined ? {} : { signature: e["signature"] }),
      };
      return {
        decode: () => decodePostEventJson(single),
        request: () => JSON.stringify(single),
      };
    }),
  };
}

function invalid(field: string, message: string): ServiceError {
  return serviceError("invalid_argument", message, { field });
}

/** One verdict: the status the single-event route would answer, and its body's fields. */
function verdictJson(verdict: PostEventResult, refusals: BindingRefusals): object {
  if ("code" in verdict) return withStatus(toHttpError(verdict));
  if (verdict.outcome !== "refused") return { status: 204, outcome: verdict.outcome };
  return withStatus(
    refusals === "status" ? toHttpError(verdict.error) : toHttpRefusal(verdict.refusal),
  );
}

function withStatus(reply: { status: number; body: string }): object {
  return { status: reply.status, ...(JSON.parse(reply.body) as object) };
}
