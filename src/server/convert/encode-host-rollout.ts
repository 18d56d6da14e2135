// Domain values to the operator contract's messages: records, rollouts and log entries.
import { create, type JsonObject } from "@bufbuild/protobuf";
import {
  type Duration,
  DurationSchema,
  type Timestamp,
  TimestampSchema,
} from "@bufbuild/protobuf/wkt";
import type {
  HealthFailurePolicy,
  ProbeMode,
  ProbeStatus,
} from "../../../gen/nixfleet/agent/v1/events_pb.js";
import {
  type HostRollout,
  HostRolloutSchema,
  ProbeStateSchema,
  RolloutSchema,
  type Rollout as WireRollout,
} from "../../../gen/nixfleet/ops/v1/host_rollout_pb.js";
import {
  type EventLogEntry,
  EventLogEntrySchema,
} from "../../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import {
  type HealthFailurePolicy as DomainPolicy,
  HEALTH_FAILURE_POLICIES,
  type HostRolloutRecord,
  PROBE_MODES,
  PROBE_STATUSES,
} from "../../core/domain.js";
import { type Instant, instantToParts } from "../../core/instant.js";
import type { LoggedEvent } from "../../storage/list-events.js";
import type { Rollout } from "../../storage/rollout.js";
import { wireHostState } from "../agent-events-service.js";
import { eventToBindingJson } from "./event-json.js";

/** A Timestamp for an Instant. */
export function timestampOf(instant: Instant): Timestamp {
  const { seconds, nanos } = instantToParts(instant);
  return create(TimestampSchema, { seconds, nanos });
}

/** A Timestamp for an Instant, or undefined for null. */
export function optionalTimestamp(instant: Instant | null): Timestamp | undefined {
  return instant === null ? undefined : timestampOf(instant);
}

/** The wire enum of a policy. */
export function wirePolicy(policy: DomainPolicy): HealthFailurePolicy {
  return (HEALTH_FAILURE_POLICIES.indexOf(policy) + 1) as HealthFailurePolicy;
}

/** A HostRollout message with every record field. */
export function encodeHostRollout(r: HostRolloutRecord): HostRollout {
  return create(HostRolloutSchema, {
    rolloutId: r.rolloutId,
    hostname: r.hostname,
    channel: r.channel,
    state: wireHostState(r.state),
    targetClosure: r.targetClosure,
    currentClosureAtDispatch: r.currentClosureAtDispatch ?? undefined,
    currentClosure: r.currentClosure ?? undefined,
    revertedTo: r.revertedTo ?? undefined,
    dispatchedAt: timestampOf(r.dispatchedAt),
    dispatchAckedAt: optionalTimestamp(r.dispatchAckedAt),
    activationStartedAt: optionalTimestamp(r.activationStartedAt),
    activationCompletedAt: optionalTimestamp(r.activationCompletedAt),
    activationFailedAt: optionalTimestamp(r.activationFailedAt),
    probeObservedFirstAt: optionalTimestamp(r.probeObservedFirstAt),
    probeFailureFirstAt: optionalTimestamp(r.probeFailureFirstAt),
    soakDueAt: timestampOf(r.soakDueAt),
    convergedAt: optionalTimestamp(r.convergedAt),
    failedAt: optionalTimestamp(r.failedAt),
    policyApplied: r.policyApplied === null ? undefined : wirePolicy(r.policyApplied),
    revertedAt: optionalTimestamp(r.revertedAt),
    probes: r.probes.map((p) =>
      create(ProbeStateSchema, {
        probeName: p.probeName,
        mode: (PROBE_MODES.indexOf(p.mode) + 1) as ProbeMode,
        status: (PROBE_STATUSES.indexOf(p.status) + 1) as ProbeStatus,
        lastObservedAt: timestampOf(p.lastObservedAt),
        lastPassAt: optionalTimestamp(p.lastPassAt),
        failureReason: p.failureReason ?? undefined,
      }),
    ),
    lastEventSeq: BigInt(r.lastEventSeq),
    missingSeqCount: BigInt(r.missingSeqCount),
    missingSeqs: r.missingSeqs.map(BigInt),
  });
}

/** A Rollout message. */
export function encodeRollout(r: Rollout): WireRollout {
  const soak: Duration = create(DurationSchema, { seconds: BigInt(r.soakDurationSecs) });
  return create(RolloutSchema, {
    id: r.id,
    channel: r.channel,
    onHealthFailure: wirePolicy(r.policy),
    soakDuration: soak,
    openedAt: timestampOf(r.openedAt),
  });
}

/** An EventLogEntry with the event as structured JSON in its HTTP-binding shape. */
export function encodeLoggedEvent(e: LoggedEvent): EventLogEntry {
  return create(EventLogEntrySchema, {
    id: BigInt(e.id),
    recordedAt: timestampOf(e.recordedAt),
    hostname: e.hostname,
    rolloutId: e.rolloutId,
    kind: e.kind,
    seq: BigInt(e.seq),
    event: eventToBindingJson(e.event) as JsonObject,
    signature: e.signature ?? new Uint8Array(),
    synthesized: e.synthesized,
    signedForm: e.signedForm ?? "",
    signerPublicKey: e.signerKey ?? new Uint8Array(),
  });
}
