// nixfleet.agent.v1.AgentEventsService over Connect, gRPC and gRPC-Web: decodes the proto
// request at the edge and runs the shared PostEvent pipeline.
import { create, toJsonString } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  type AgentEventsService,
  Outcome,
  PostEventRequestSchema,
  PostEventResponseSchema,
  type HostState as WireHostState,
} from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { HOST_STATES, type HostState } from "../core/domain.js";
import { decodeHeartbeatProto } from "./convert/decode-heartbeat.js";
import { decodePostEventProto } from "./convert/decode-post-event.js";
import { encodeHeartbeatResponse } from "./convert/encode-heartbeat.js";
import type { HandleHeartbeat } from "./heartbeat.js";
import { PeerIdentity } from "./peer-identity.js";
import type { PostEvent } from "./post-event.js";
import { peerKey } from "./request-context.js";
import { serviceError, toConnectError } from "./service-error.js";

/** The wire HostState of a domain state (enum numbers follow HOST_STATES' order). */
export function wireHostState(state: HostState): WireHostState {
  return (HOST_STATES.indexOf(state) + 1) as WireHostState;
}

/** Implements AgentEventsService with the shared pipeline. */
export function createAgentEventsService(
  postEvent: PostEvent,
  heartbeat: HandleHeartbeat,
): ServiceImpl<typeof AgentEventsService> {
  return {
    async postEvent(request, context) {
      const result = await postEvent(peerOf(context), () => decodePostEventProto(request), {
        protocol: "proto",
        request: () => toJsonString(PostEventRequestSchema, request),
      });
      if ("code" in result) throw toConnectError(result);
      if (result.outcome === "refused") throw toConnectError(result.error);
      return create(PostEventResponseSchema, {
        outcome: result.outcome === "applied" ? Outcome.APPLIED : Outcome.DUPLICATE,
        state: wireHostState(result.state),
        lastEventSeq: BigInt(result.lastEventSeq),
        seqGap: BigInt(result.seqGap),
        missingSeqCount: BigInt(result.missingSeqCount),
        missingSeqs: result.missingSeqs.map(BigInt),
      });
    },
    async heartbeat(request, context) {
      const result = await heartbeat(peerOf(context), () => decodeHeartbeatProto(request));
      if ("code" in result) throw toConnectError(result);
      return encodeHeartbeatResponse(result);
    },
  };
}

function peerOf(context: HandlerContext): PeerIdentity {
  const peer = context.values.get(peerKey);
  if (!(peer instanceof PeerIdentity)) {
    throw toConnectError(peer ?? serviceError("unauthenticated", "no client certificate"));
  }
  return peer;
}
