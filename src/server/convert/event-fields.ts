// The fields of each of the twelve event kinds and their bounds, read the same way from the
// HTTP JSON binding and from the proto messages (whose protobuf-es names are the same camelCase).
import {
  ActivationComponentSchema,
  HealthFailurePolicySchema,
  ProbeModeSchema,
  ProbeStatusSchema,
} from "../../../gen/nixfleet/agent/v1/events_pb.js";
import {
  ACTIVATION_COMPONENTS,
  HEALTH_FAILURE_POLICIES,
  PROBE_MODES,
  PROBE_STATUSES,
} from "../../core/domain.js";
import type { EventKind } from "../../core/event.js";
import {
  enumOf,
  type Fields,
  int32,
  listOf,
  objectOf,
  openEnumOf,
  optionalEnumOf,
  optionalText,
  text,
  timestamp,
  uint53,
} from "./field-codecs.js";

/**
 * Bounds on what one proto event may carry; larger values are rejected as invalid_argument.
 * The binding has none (the original had none): its body size limit bounds it.
 */
export const LIMITS = {
  closure: 1024,
  name: 256,
  stderrTail: 65_536,
  reason: 4096,
  probes: 256,
  subResults: 1024,
} as const;

const closure = text(LIMITS.closure);
const name = text(LIMITS.name);
const probeMode = enumOf(ProbeModeSchema, PROBE_MODES);
const probeStatus = enumOf(ProbeStatusSchema, PROBE_STATUSES);

const declaredProbe = objectOf({ probeName: name, kind: name, mode: probeMode });
const subResult = objectOf({
  controlId: name,
  status: probeStatus,
  framework: name,
  article: optionalText(LIMITS.name),
  effectiveMode: optionalEnumOf(ProbeModeSchema, PROBE_MODES),
  overrideReason: optionalText(LIMITS.reason),
});

/** The fields of every event kind except `kind` and `seq`. */
export const EVENT_FIELDS: Record<EventKind, Fields> = {
  DispatchAck: { currentClosureAtDispatch: closure, receivedAt: timestamp },
  ActivationStarted: { startedAt: timestamp, switchMethod: name },
  ActivationCompleted: { observedCurrentClosure: closure, exitCode: int32, completedAt: timestamp },
  ActivationFailed: {
    exitCode: int32,
    stderrTail: text(LIMITS.stderrTail, true),
    failedAt: timestamp,
  },
  ActivationDeferred: {
    component: openEnumOf(ActivationComponentSchema, ACTIVATION_COMPONENTS),
    deferredAt: timestamp,
  },
  ProbeTopologyDeclared: {
    probes: listOf(declaredProbe, LIMITS.probes),
    declaredAt: timestamp,
  },
  ProbeObservedFirst: { probeName: name, mode: probeMode, observedAt: timestamp },
  ProbeResult: {
    probeName: name,
    mode: probeMode,
    status: probeStatus,
    observedAt: timestamp,
    failureReason: optionalText(LIMITS.reason),
    subResults: listOf(subResult, LIMITS.subResults, true),
  },
  ProbeFailureFirst: { probeName: name, mode: probeMode, firstFailedAt: timestamp },
  Failed: {
    failedAt: timestamp,
    sustainedDurationSecs: uint53,
    failingProbes: listOf(name, LIMITS.probes),
    policyApplied: enumOf(HealthFailurePolicySchema, HEALTH_FAILURE_POLICIES),
  },
  RollbackComplete: { revertedToClosure: closure, exitCode: int32, completedAt: timestamp },
  Converged: { convergedAt: timestamp, currentClosure: closure },
};

/** The proto oneof case name of each kind, e.g. DispatchAck ⇔ dispatchAck. */
export const KIND_BY_CASE: ReadonlyMap<string, EventKind> = new Map(
  (Object.keys(EVENT_FIELDS) as EventKind[]).map((k) => [
    k.charAt(0).toLowerCase() + k.slice(1),
    k,
  ]),
);
