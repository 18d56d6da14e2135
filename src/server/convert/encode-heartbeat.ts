// A committed heartbeat's answer in both encodings: the proto HeartbeatResponse, and the
// binding's snake_case body with camelCase snapshots and the X-Nixfleet-Replay-From header.
import { create } from "@bufbuild/protobuf";
import {
  type BootstrapRollout,
  BootstrapRolloutSchema,
  type HeartbeatResponse,
  HeartbeatResponseSchema,
} from "../../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import type { HostRolloutRecord } from "../../core/domain.js";
import { formatInstant } from "../../core/instant.js";
import { wireHostState } from "../agent-events-service.js";
import type { HeartbeatVerdict } from "../heartbeat.js";
import { optionalTimestamp, timestampOf } from "./encode-host-rollout.js";

/** The header carrying replay-from on the binding. */
export const REPLAY_FROM_HEADER = "x-nixfleet-replay-from";

function bootstrapMessage(r: HostRolloutRecord): BootstrapRollout {
  const optional = optionalTimestamp;
  return create(BootstrapRolloutSchema, {
    rolloutId: r.rolloutId,
    hostname: r.hostname,
    channel: r.channel,
    state: wireHostState(r.state),
    targetClosure: r.targetClosure,
    currentClosureAtDispatch: r.currentClosureAtDispatch ?? undefined,
    currentClosure: r.currentClosure ?? undefined,
    dispatchedAt: timestampOf(r.dispatchedAt),
    dispatchAckedAt: optional(r.dispatchAckedAt),
    activationStartedAt: optional(r.activationStartedAt),
    activationCompletedAt: optional(r.activationCompletedAt),
    soakDueAt: timestampOf(r.soakDueAt),
    lastEventSeq: BigInt(r.lastEventSeq),
  });
}

/** The proto response. */
export function encodeHeartbeatResponse(verdict: HeartbeatVerdict): HeartbeatResponse {
  return create(HeartbeatResponseSchema, {
    receivedAt: timestampOf(verdict.at),
    bootstrapRollouts: verdict.bootstrap.map(bootstrapMessage),
    replayFrom: verdict.replayFrom === null ? undefined : BigInt(verdict.replayFrom),
  });
}

/** One bootstrap snapshot as SPEC §8 spells it: camelCase keys, optional ones omitted. */
export function bootstrapJson(r: HostRolloutRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    rolloutId: r.rolloutId,
    hostname: r.hostname,
    channel: r.channel,
    state: r.state,
    targetClosure: r.targetClosure,
  };
  if (r.currentClosureAtDispatch !== null)
    out["currentClosureAtDispatch"] = r.currentClosureAtDispatch;
  if (r.currentClosure !== null) out["currentClosure"] = r.currentClosure;
  out["dispatchedAt"] = formatInstant(r.dispatchedAt);
  if (r.dispatchAckedAt !== null) out["dispatchAckedAt"] = formatInstant(r.dispatchAckedAt);
  if (r.activationStartedAt !== null)
    out["activationStartedAt"] = formatInstant(r.activationStartedAt);
  if (r.activationCompletedAt !== null)
    out["activationCompletedAt"] = formatInstant(r.activationCompletedAt);
  out["soakDueAt"] = formatInstant(r.soakDueAt);
  out["lastEventSeq"] = r.lastEventSeq;
  return out;
}

/** The binding's 200 answer: body `{received_at, bootstrap_rollouts?}` and the replay header. */
export function heartbeatBindingReply(verdict: HeartbeatVerdict): {
  headers: Record<string, string>;
  body: string;
} {
  const body: Record<string, unknown> = {
    received_at: verdict.atText ?? formatInstant(verdict.at),
  };
  if (verdict.bootstrap.length > 0)
    body["bootstrap_rollouts"] = verdict.bootstrap.map(bootstrapJson);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (verdict.replayFrom !== null) headers[REPLAY_FROM_HEADER] = String(verdict.replayFrom);
  return { headers, body: JSON.stringify(body) };
}
