// Load shedding at the door: while the ingest channel is full, PostEvent(s) and Heartbeat on any
// protocol are answered "slow down" before TLS identity, body parsing or connect-node run, so
// a shed request costs a fraction of an applied one and overload leaves room for goodput.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { Code } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { AgentEventsService } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { grpcStatusFields } from "./grpc-status.js";
import { queueFull, toConnectError, toHttpError } from "./service-error.js";
import { respondTrailersOnly } from "./trailers-only.js";

/** The Connect/gRPC path of PostEvent. */
export const POST_EVENT_RPC_PATH = `/${AgentEventsService.typeName}/${AgentEventsService.method.postEvent.name}`;

/** The Connect/gRPC path of PostEvents, shed at the door alike. */
export const POST_EVENTS_RPC_PATH = `/${AgentEventsService.typeName}/${AgentEventsService.method.postEvents.name}`;

/** The Connect/gRPC path of Heartbeat, shed at the door alike. */
export const HEARTBEAT_RPC_PATH = `/${AgentEventsService.typeName}/${AgentEventsService.method.heartbeat.name}`;

/** Which surface a shed request came in on, for metrics. */
export type ShedProtocol = "connect" | "grpc" | "grpc-web" | "http-json";

/**
 * Precomputes the resource_exhausted answer of each protocol (with the retry-after hint and
 * a google.rpc.RetryInfo detail, as the full path sends) and returns the responder.
 */
export function createEarlyShed(
  retryAfterSeconds: number,
): (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse,
  binding: boolean,
) => ShedProtocol {
  const error = queueFull(retryAfterSeconds);
  const connectError = toConnectError(error);
  const connectBody = Buffer.from(errorToJsonBytes(connectError, {}));
  const connectStatus = codeToHttpStatus(Code.ResourceExhausted);
  const grpcStatus = grpcStatusFields(connectError);
  const http = toHttpError(error);

  return (req, res, binding) => {
    // Nothing of the body is needed; let it flow away instead of buffering it.
    req.resume();
    if (binding) {
      res.writeHead(http.status, http.headers);
      res.end(http.body);
      return "http-json";
    }
    const contentType = String(req.headers["content-type"] ?? "");
    if (contentType.startsWith("application/grpc")) {
      // Trailers-Only: the status travels in the one HEADERS frame, which ends the stream.
      respondTrailersOnly(req, res, contentType, grpcStatus);
      return contentType.startsWith("application/grpc-web") ? "grpc-web" : "grpc";
    }
    res.writeHead(connectStatus, {
      "content-type": "application/json",
      "retry-after": String(retryAfterSeconds),
    });
    res.end(connectBody);
    return "connect";
  };
}
