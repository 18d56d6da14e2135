// The HTTP JSON binding POST /v1/agent/heartbeat (SPEC §8): the snake_case body existing
// agents send, translated to the shared heartbeat pipeline, answered 200 with the snake_case
// body and the X-Nixfleet-Replay-From header.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { AgentEventsService } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { decodeHeartbeatJson } from "./convert/decode-heartbeat.js";
import { heartbeatBindingReply } from "./convert/encode-heartbeat.js";
import type { HandleHeartbeat } from "./heartbeat.js";
import { createJsonRoute, parseJsonBody, postPathOf } from "./json-route.js";
import type { PeerIdentity } from "./peer-identity.js";
import type { ServiceError } from "./service-error.js";

/** The binding's path, read from Heartbeat's google.api.http annotation. */
export const HEARTBEAT_PATH = postPathOf(AgentEventsService.method.heartbeat);

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
