// Load shedding at the door: while the ingest channel is full, PostEvent(s) and Heartbeat on any
// protocol are answered "slow down" before TLS identity, body parsing or connect-node run, so
// a shed request costs a fraction of an applied one and overload leaves room for goodput.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, ServerHttp2Stream } from "node:http2";
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

/** The resource_exhausted answer of each protocol, computed once. */
function shedAnswers(retryAfterSeconds: number) {
  const error = queueFull(retryAfterSeconds);
  const connectError = toConnectError(error);
  return {
    connectBody: Buffer.from(errorToJsonBytes(connectError, {})),
    connectStatus: codeToHttpStatus(Code.ResourceExhausted),
    grpcStatus: grpcStatusFields(connectError),
    http: toHttpError(error),
  };
}

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
  const { connectBody, connectStatus, grpcStatus, http } = shedAnswers(retryAfterSeconds);

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

/**
 * The same answers for a Connect or gRPC request met on the HTTP/2 stream API (the lean path,
 * lean-path.ts), before Node builds request objects for it.
 */
export function createStreamShed(
  retryAfterSeconds: number,
): (stream: ServerHttp2Stream, contentType: string) => ShedProtocol {
  const { connectBody, connectStatus, grpcStatus } = shedAnswers(retryAfterSeconds);
  const grpcFields = Object.fromEntries(grpcStatus.entries());
  return (stream, contentType) => {
    stream.resume();
    if (stream.destroyed || stream.headersSent) return "connect";
    if (contentType.startsWith("application/grpc")) {
      stream.respond(
        { ":status": 200, ...grpcFields, "content-type": contentType },
        { endStream: true },
      );
      return contentType.startsWith("application/grpc-web") ? "grpc-web" : "grpc";
    }
    stream.respond({
      ":status": connectStatus,
      "content-type": "application/json",
      "retry-after": String(retryAfterSeconds),
    });
    stream.end(connectBody);
    return "connect";
  };
}
