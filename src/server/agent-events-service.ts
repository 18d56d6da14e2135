// nixfleet.agent.v1.AgentEventsService over Connect, gRPC and gRPC-Web: decodes the proto
// request at the edge and runs the shared PostEvent pipeline.
import { create, toJsonString } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  type AgentEventsService,
  EventVerdictSchema,
  Outcome,
  PostEventRequestSchema,
  type PostEventResponse,
  PostEventResponseSchema,
  type PostEventsRequest,
  type PostEventsResponse,
  PostEventsResponseSchema,
  type HostState as WireHostState,
} from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { HOST_STATES, type HostState } from "../core/domain.js";
import { decodeHeartbeatProto } from "./convert/decode-heartbeat.js";
import { decodePostEventProto } from "./convert/decode-post-event.js";
import { encodeHeartbeatResponse } from "./convert/encode-heartbeat.js";
import type { HandleHeartbeat } from "./heartbeat.js";
import { PeerIdentity } from "./peer-identity.js";
import type { PostEvent, PostEventVerdict } from "./post-event.js";
import type { PostEvents } from "./post-events.js";
import { peerKey } from "./request-context.js";
import {
  connectCodeName,
  type ServiceError,
  serviceError,
  toConnectError,
} from "./service-error.js";

/** The wire HostState of a domain state (enum numbers follow HOST_STATES' order). */
export function wireHostState(state: HostState): WireHostState {
  return (HOST_STATES.indexOf(state) + 1) as WireHostState;
}

/** Implements AgentEventsService with the shared pipeline. */
export function createAgentEventsService(
  postEvent: PostEvent,
  postEvents: PostEvents,
  heartbeat: HandleHeartbeat,
): ServiceImpl<typeof AgentEventsService> {
  const postEventsProto = createPostEventsProto(postEvents);
  return {
    async postEvent(request, context) {
      const result = await postEvent(peerOf(context), () => decodePostEventProto(request), {
        protocol: "proto",
        request: () => toJsonString(PostEventRequestSchema, request),
      });
      if ("code" in result) throw toConnectError(result);
      if (result.outcome === "refused") throw toConnectError(result.error);
      return postEventResponse(result);
    },
    async postEvents(request, context) {
      const result = await postEventsProto(peerOf(context), request);
      if ("code" in result) throw toConnectError(result);
      return result;
    },
    async heartbeat(request, context) {
      const result = await heartbeat(peerOf(context), () => decodeHeartbeatProto(request));
      if ("code" in result) throw toConnectError(result);
      return encodeHeartbeatResponse(result);
    },
  };
}

/**
 * PostEvents on a decoded proto request: the response, or the error refusing the whole call.
 * Independent of connect-node, so any server path holding the request and the peer can use it.
 */
export function createPostEventsProto(
  postEvents: PostEvents,
): (peer: PeerIdentity, request: PostEventsRequest) => Promise<PostEventsResponse | ServiceError> {
  return async (peer, request) => {
    const { hostname } = request;
    const result = await postEvents(
      peer,
      {
        hostname,
        events: request.events.map((e) => {
          const single = {
            hostname,
            rolloutId: e.rolloutId,
            event: e.event,
            signature: e.signature,
          };
          return {
            decode: () => decodePostEventProto(single),
            request: () =>
              toJsonString(PostEventRequestSchema, create(PostEventRequestSchema, single)),
          };
        }),
      },
      "proto",
    );
    if ("code" in result) return result;
    return create(PostEventsResponseSchema, {
      verdicts: result.verdicts.map((v) =>
        create(EventVerdictSchema, {
          verdict:
            "code" in v
              ? { case: "error", value: { code: connectCodeName(v), message: v.message } }
              : v.outcome === "refused"
                ? {
                    case: "error",
                    value: { code: connectCodeName(v.error), message: v.error.message },
                  }
                : { case: "accepted", value: postEventResponse(v) },
        }),
      ),
    });
  };
}

/** The proto answer of an applied or duplicate event. */
function postEventResponse(verdict: PostEventVerdict): PostEventResponse {
  return create(PostEventResponseSchema, {
    outcome: verdict.outcome === "applied" ? Outcome.APPLIED : Outcome.DUPLICATE,
    state: wireHostState(verdict.state),
    lastEventSeq: BigInt(verdict.lastEventSeq),
    seqGap: BigInt(verdict.seqGap),
    missingSeqCount: BigInt(verdict.missingSeqCount),
    missingSeqs: verdict.missingSeqs.map(BigInt),
  });
}

function peerOf(context: HandlerContext): PeerIdentity {
  const peer = context.values.get(peerKey);
  if (!(peer instanceof PeerIdentity)) {
    throw toConnectError(peer ?? serviceError("unauthenticated", "no client certificate"));
  }
  return peer;
}
