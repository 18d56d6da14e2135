// Domain values of the operator views to their messages: refused events, quarantined
// closures, probe failures and rollouts with their derived status.
import { create } from "@bufbuild/protobuf";
import type { ProbeMode } from "../../../gen/nixfleet/agent/v1/events_pb.js";
import {
  ProbeFailureSchema,
  type QuarantinedClosure,
  QuarantinedClosureSchema,
  RefusedEventSchema,
  type RolloutSummary,
  RolloutSummarySchema,
  type ProbeFailure as WireProbeFailure,
  type RefusedEvent as WireRefusedEvent,
  type RolloutStatus as WireRolloutStatus,
} from "../../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { HOST_STATES, PROBE_MODES } from "../../core/domain.js";
import { ROLLOUT_STATUSES, rolloutStatus } from "../../core/rollout-status.js";
import type { ProbeFailure } from "../../storage/list-probe-failures.js";
import type { Quarantine } from "../../storage/list-quarantines.js";
import type { RolloutWithCounts } from "../../storage/operator-views.js";
import type { RefusedEvent } from "../../storage/refused-events.js";
import { wireHostState } from "../agent-events-service.js";
import { encodeRollout, timestampOf } from "./encode-host-rollout.js";

/** A RefusedEvent message. */
export function encodeRefusedEvent(r: RefusedEvent): WireRefusedEvent {
  return create(RefusedEventSchema, {
    id: BigInt(r.id),
    firstRefusedAt: timestampOf(r.firstRefusedAt),
    lastRefusedAt: timestampOf(r.lastRefusedAt),
    count: BigInt(r.count),
    peer: r.peer,
    hostname: r.hostname,
    rolloutId: r.rolloutId,
    seq: BigInt(r.seq),
    kind: r.kind,
    code: r.code,
    reason: r.reason,
    message: r.message,
    field: r.field ?? "",
    protocol: r.protocol,
    request: r.request,
  });
}

/** A QuarantinedClosure message. */
export function encodeQuarantine(q: Quarantine): QuarantinedClosure {
  return create(QuarantinedClosureSchema, {
    channel: q.channel,
    closure: q.closure,
    rolloutId: q.rolloutId,
    hostname: q.hostname,
    eventId: BigInt(q.eventLogId),
    quarantinedAt: timestampOf(q.quarantinedAt),
  });
}

/** A ProbeFailure message. */
export function encodeProbeFailure(f: ProbeFailure): WireProbeFailure {
  return create(ProbeFailureSchema, {
    id: BigInt(f.id),
    eventId: BigInt(f.eventLogId),
    rolloutId: f.rolloutId,
    hostname: f.hostname,
    probeName: f.probeName,
    controlId: f.controlId ?? undefined,
    framework: f.framework ?? undefined,
    mode: (PROBE_MODES.indexOf(f.mode) + 1) as ProbeMode,
    failureReason: f.failureReason ?? undefined,
    observedAt: timestampOf(f.observedAt),
  });
}

/** The wire RolloutStatus of a derived status (enum numbers follow ROLLOUT_STATUSES). */
export function wireRolloutStatus(status: (typeof ROLLOUT_STATUSES)[number]): WireRolloutStatus {
  return (ROLLOUT_STATUSES.indexOf(status) + 1) as WireRolloutStatus;
}

/** A RolloutSummary: the rollout, its derived status and its hosts by state. */
export function encodeRolloutSummary(r: RolloutWithCounts): RolloutSummary {
  let total = 0;
  const hostCounts = [];
  for (const state of HOST_STATES) {
    const count = r.counts.get(state) ?? 0;
    total += count;
    if (count > 0) hostCounts.push({ state: wireHostState(state), count });
  }
  return create(RolloutSummarySchema, {
    rollout: encodeRollout(r.rollout),
    status: wireRolloutStatus(rolloutStatus(r.counts)),
    hostCounts,
    hostCount: total,
  });
}
