// The HTTP JSON binding POST /v1/agent/heartbeat (SPEC §8): the snake_case body existing
// agents send, translated to the shared heartbeat pipeline, answered 200 with the snake_case
// body and the X-Nixfleet-Replay-From header.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { getOption } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.js";
import { AgentEventsService } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { decodeHeartbeatJson } from "./convert/decode-heartbeat.js";
import { heartbeatBindingReply } from "./convert/encode-heartbeat.js";
import type { HandleHeartbeat } from "./heartbeat.js";
import { createJsonRoute, parseJsonBody } from "./json-route.js";
import type { PeerIdentity } from "./peer-identity.js";
import type { ServiceError } from "./service-error.js";

/** The binding's path, read from Heartbeat's google.api.http annotation. */
export const HEARTBEAT_PATH = (() => {
  const rule = getOption(AgentEventsService.method.heartbeat, http);
  if (rule.pattern.case !== "post")
    throw new Error("Heartbeat must be annotated with an HTTP POST");
  return rule.pattern.value;
})();

export interface HeartbeatBindingOptions {
  readonly heartbeat: HandleHeartbeat;
  readonly authenticate: (req: IncomingMessage | Http2ServerRequest) => PeerIdentity | ServiceError;
  readonly maxBodyBytes: number;
  readonly onResponse?: (status: number) => void;
  readonly onRefused?: (error: ServiceError, peer: string | undefined) => void;
}

/** Creates the request handler for the heartbeat binding's path. */
export function createHeartbeatBinding(
  options: HeartbeatBindingOptions,
): (req: IncomingMessage | Http2ServerRequest, res: ServerResponse) => void {
  const { heartbeat, ...route } = options;
  return createJsonRoute({
    ...route,
    async handle(peer, body) {
      const result = await heartbeat(peer, () => {
        const parsed = parseJsonBody(body);
        return parsed.ok ? decodeHeartbeatJson(parsed.value) : parsed;
      });
      if ("code" in result) return result;
      return { status: 200, ...heartbeatBindingReply(result) };
    },
  });
}
