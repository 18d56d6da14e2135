// The twelve remote events as domain values. Field names and shapes are those of the HTTP
// JSON binding (SPEC §3.2), so an event's JSON is also its event-log payload.
import type { HealthFailurePolicy, ProbeMode, ProbeStatus } from "./domain.js";
import type { Instant } from "./instant.js";

/** A probe the agent committed to for the rollout. */
export interface DeclaredProbe {
  readonly probeName: string;
  readonly kind: string;
  readonly mode: ProbeMode;
}

/** One control checked inside an evidence probe. */
export interface SubResult {
  readonly controlId: string;
  readonly status: ProbeStatus;
  readonly framework: string;
  readonly article?: string;
  /** Absent means enforce. */
  readonly effectiveMode?: ProbeMode;
  readonly overrideReason?: string;
}

interface EventBase {
  /** 1..2^53-1, monotonic per (hostname, rolloutId). */
  readonly seq: number;
}

export interface DispatchAck extends EventBase {
  readonly kind: "DispatchAck";
  readonly currentClosureAtDispatch: string;
  readonly receivedAt: Instant;
}
export interface ActivationStarted extends EventBase {
  readonly kind: "ActivationStarted";
  readonly startedAt: Instant;
  readonly switchMethod: string;
}
export interface ActivationCompleted extends EventBase {
  readonly kind: "ActivationCompleted";
  readonly observedCurrentClosure: string;
  readonly exitCode: number;
  readonly completedAt: Instant;
}
export interface ActivationFailed extends EventBase {
  readonly kind: "ActivationFailed";
  readonly exitCode: number;
  readonly stderrTail: string;
  readonly failedAt: Instant;
}
export interface ActivationDeferred extends EventBase {
  readonly kind: "ActivationDeferred";
  /**
   * One of ACTIVATION_COMPONENTS over the proto; the binding takes any string, as the
   * original CP did (it is only shown, never acted on).
   */
  readonly component: string;
  readonly deferredAt: Instant;
}
export interface ProbeTopologyDeclared extends EventBase {
  readonly kind: "ProbeTopologyDeclared";
  readonly probes: readonly DeclaredProbe[];
  readonly declaredAt: Instant;
}
export interface ProbeObservedFirst extends EventBase {
  readonly kind: "ProbeObservedFirst";
  readonly probeName: string;
  readonly mode: ProbeMode;
  readonly observedAt: Instant;
}
export interface ProbeResult extends EventBase {
  readonly kind: "ProbeResult";
  readonly probeName: string;
  readonly mode: ProbeMode;
  readonly status: ProbeStatus;
  readonly observedAt: Instant;
  readonly failureReason?: string;
  readonly subResults?: readonly SubResult[];
}
export interface ProbeFailureFirst extends EventBase {
  readonly kind: "ProbeFailureFirst";
  readonly probeName: string;
  readonly mode: ProbeMode;
  readonly firstFailedAt: Instant;
}
export interface Failed extends EventBase {
  readonly kind: "Failed";
  readonly failedAt: Instant;
  readonly sustainedDurationSecs: number;
  readonly failingProbes: readonly string[];
  readonly policyApplied: HealthFailurePolicy;
}
export interface RollbackComplete extends EventBase {
  readonly kind: "RollbackComplete";
  readonly revertedToClosure: string;
  readonly exitCode: number;
  readonly completedAt: Instant;
}
export interface Converged extends EventBase {
  readonly kind: "Converged";
  readonly convergedAt: Instant;
  readonly currentClosure: string;
}

/** Any event an agent reports. */
export type RemoteEvent =
  | DispatchAck
  | ActivationStarted
  | ActivationCompleted
  | ActivationFailed
  | ActivationDeferred
  | ProbeTopologyDeclared
  | ProbeObservedFirst
  | ProbeResult
  | ProbeFailureFirst
  | Failed
  | RollbackComplete
  | Converged;

export type EventKind = RemoteEvent["kind"];

/** Every event kind, in wire (oneof) order. */
export const EVENT_KINDS = [
  "DispatchAck",
  "ActivationStarted",
  "ActivationCompleted",
  "ActivationFailed",
  "ActivationDeferred",
  "ProbeTopologyDeclared",
  "ProbeObservedFirst",
  "ProbeResult",
  "ProbeFailureFirst",
  "Failed",
  "RollbackComplete",
  "Converged",
] as const satisfies readonly EventKind[];

/** The agent's timestamp of an event: the instant it reports the step happened. */
export function eventTime(event: RemoteEvent): Instant {
  switch (event.kind) {
    case "DispatchAck":
      return event.receivedAt;
    case "ActivationStarted":
      return event.startedAt;
    case "ActivationCompleted":
      return event.completedAt;
    case "ActivationFailed":
      return event.failedAt;
    case "ActivationDeferred":
      return event.deferredAt;
    case "ProbeTopologyDeclared":
      return event.declaredAt;
    case "ProbeObservedFirst":
      return event.observedAt;
    case "ProbeResult":
      return event.observedAt;
    case "ProbeFailureFirst":
      return event.firstFailedAt;
    case "Failed":
      return event.failedAt;
    case "RollbackComplete":
      return event.completedAt;
    case "Converged":
      return event.convergedAt;
  }
}
