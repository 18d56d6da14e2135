// Reusable builders for core tests: plausible records and events with overridable fields,
// records driven into any state through step() itself, and small assertion helpers.
import assert from "node:assert/strict";
import {
  EVENT_KINDS,
  type EventKind,
  type HealthFailurePolicy,
  type HostRolloutRecord,
  type HostState,
  type Instant,
  instantFromEpochNanos,
  instantToEpochNanos,
  openRecords,
  parseInstant,
  type RemoteEvent,
  replay,
  type StepApplied,
  type StepError,
  type StepResult,
} from "../../../src/core/index.js";

/** The control-plane clock at open, and the `now` passed to every step. */
export const T0 = parseInstant("2026-05-16T01:27:00Z")!;
/** The soak duration of the default rollout: soakDueAt is T0 + 300 s. */
export const SOAK_SECS = 300;
export const ROLLOUT_ID = "stable@3f2a9c1e";
export const CHANNEL = "stable";
export const HOSTNAME = "web-01";
/** The closure the rollout moves the host to. */
export const TARGET = "def456-nixos-system-web-01";
/** The closure the host was on at dispatch (its rollback target). */
export const PREVIOUS = "abc123-nixos-system-web-01-prev";
/** Some closure that is neither. */
export const OTHER = "fff000-nixos-system-web-01-other";
export const NOW = T0;

/** The instant `secs` seconds after T0 (negative: before; fractions down to nanoseconds). */
export function at(secs: number): Instant {
  return instantFromEpochNanos(instantToEpochNanos(T0) + BigInt(Math.round(secs * 1e9)))!;
}

/** The freshly opened Pending record of the default rollout for one host. */
export function opened(
  overrides: { soakDurationSecs?: number; targetClosure?: string } = {},
): HostRolloutRecord {
  const [record] = openRecords(
    {
      rolloutId: ROLLOUT_ID,
      channel: CHANNEL,
      soakDurationSecs: overrides.soakDurationSecs ?? SOAK_SECS,
      hosts: [{ hostname: HOSTNAME, targetClosure: overrides.targetClosure ?? TARGET }],
    },
    T0,
  );
  return record!;
}

/** The event type of one kind. */
export type EventOf<K extends EventKind> = Extract<RemoteEvent, { kind: K }>;

// Times follow SPEC §3.2's story; Converged lands after the default soak is due.
const DEFAULTS: { [K in EventKind]: (seq: number) => EventOf<K> } = {
  DispatchAck: (seq) => ({
    kind: "DispatchAck",
    seq,
    currentClosureAtDispatch: PREVIOUS,
    receivedAt: at(1),
  }),
  ActivationStarted: (seq) => ({
    kind: "ActivationStarted",
    seq,
    startedAt: at(3),
    switchMethod: "systemd-run",
  }),
  ActivationCompleted: (seq) => ({
    kind: "ActivationCompleted",
    seq,
    observedCurrentClosure: TARGET,
    exitCode: 0,
    completedAt: at(5),
  }),
  ActivationFailed: (seq) => ({
    kind: "ActivationFailed",
    seq,
    exitCode: 1,
    stderrTail: "error: unit foo.service failed",
    failedAt: at(5),
  }),
  ActivationDeferred: (seq) => ({
    kind: "ActivationDeferred",
    seq,
    component: "dbus",
    deferredAt: at(5),
  }),
  ProbeTopologyDeclared: (seq) => ({
    kind: "ProbeTopologyDeclared",
    seq,
    probes: [
      { probeName: "nginx-version", kind: "http", mode: "enforce" },
      { probeName: "evidence-nis2", kind: "evidence", mode: "observe" },
    ],
    declaredAt: at(15),
  }),
  ProbeObservedFirst: (seq) => ({
    kind: "ProbeObservedFirst",
    seq,
    probeName: "nginx-version",
    mode: "enforce",
    observedAt: at(20),
  }),
  ProbeResult: (seq) => ({
    kind: "ProbeResult",
    seq,
    probeName: "nginx-version",
    mode: "enforce",
    status: "pass",
    observedAt: at(20),
  }),
  ProbeFailureFirst: (seq) => ({
    kind: "ProbeFailureFirst",
    seq,
    probeName: "nginx-version",
    mode: "enforce",
    firstFailedAt: at(35),
  }),
  Failed: (seq) => ({
    kind: "Failed",
    seq,
    failedAt: at(155),
    sustainedDurationSecs: 120,
    failingProbes: ["nginx-version"],
    policyApplied: "rollback-and-halt",
  }),
  RollbackComplete: (seq) => ({
    kind: "RollbackComplete",
    seq,
    revertedToClosure: PREVIOUS,
    exitCode: 0,
    completedAt: at(160),
  }),
  Converged: (seq) => ({
    kind: "Converged",
    seq,
    convergedAt: at(SOAK_SECS + 5),
    currentClosure: TARGET,
  }),
};

/** A plausible event of `kind` with `seq`, with any fields overridden. */
export function event<K extends EventKind>(
  kind: K,
  seq: number,
  overrides: Partial<Omit<EventOf<K>, "kind" | "seq">> = {},
): EventOf<K> {
  const base: EventOf<K> = DEFAULTS[kind](seq);
  return { ...base, ...overrides };
}

/** One event of every kind, in EVENT_KINDS order, all with `seq`. */
export function oneOfEach(seq: number): RemoteEvent[] {
  return EVENT_KINDS.map((kind) => event(kind, seq));
}

/**
 * The 14 legal (from, kind) pairs and the state each leads to, copied from SPEC §4 rather
 * than derived from the code, so tests compare the implementation against the spec.
 */
export const LEGAL: readonly (readonly [HostState, EventKind, HostState])[] = [
  ["Pending", "DispatchAck", "Activating"],
  ["Activating", "ActivationStarted", "Activating"],
  ["Activating", "ActivationCompleted", "Soaking"],
  ["Activating", "ActivationDeferred", "Deferred"],
  ["Activating", "ActivationFailed", "Failed"],
  ["Deferred", "ActivationCompleted", "Soaking"],
  ["Deferred", "ActivationFailed", "Failed"],
  ["Soaking", "ProbeTopologyDeclared", "Soaking"],
  ["Soaking", "ProbeObservedFirst", "Soaking"],
  ["Soaking", "ProbeResult", "Soaking"],
  ["Soaking", "ProbeFailureFirst", "Soaking"],
  ["Soaking", "Failed", "Failed"],
  ["Soaking", "Converged", "Converged"],
  ["Failed", "RollbackComplete", "Reverted"],
];

/** The state a legal (state, kind) pair leads to, or undefined when the pair is illegal. */
export function legalTarget(state: HostState, kind: EventKind): HostState | undefined {
  return LEGAL.find(([from, k]) => from === state && k === kind)?.[2];
}

/** The kinds that drive an opened record into each state, along legal transitions. */
export const PATH_TO: Readonly<Record<HostState, readonly EventKind[]>> = {
  Pending: [],
  Activating: ["DispatchAck"],
  Deferred: ["DispatchAck", "ActivationDeferred"],
  Soaking: ["DispatchAck", "ActivationCompleted"],
  Converged: ["DispatchAck", "ActivationCompleted", "Converged"],
  Failed: ["DispatchAck", "ActivationCompleted", "Failed"],
  Reverted: ["DispatchAck", "ActivationCompleted", "Failed", "RollbackComplete"],
};

/**
 * A record in `state`, reached by stepping default events with seqs 1, 2, …; `nextSeq` is
 * the first fresh seq.
 */
export function recordIn(
  state: HostState,
  policy: HealthFailurePolicy = "rollback-and-halt",
): { record: HostRolloutRecord; nextSeq: number } {
  const events = PATH_TO[state].map((kind, i) => event(kind, i + 1));
  const result = replay(opened(), events, NOW, policy);
  assert.deepEqual(result.refused, [], `driving a record to ${state}`);
  assert.equal(result.record.state, state);
  return { record: result.record, nextSeq: events.length + 1 };
}

/** Asserts the step applied and returns it. */
export function mustApply(result: StepResult): StepApplied {
  if (!result.ok) assert.fail(`expected the event to apply, got ${JSON.stringify(result.error)}`);
  return result;
}

/** Asserts the step was refused and returns the error. */
export function mustRefuse(result: StepResult): StepError {
  if (result.ok) assert.fail(`expected a refusal, got state ${result.record.state}`);
  return result.error;
}

/** Freezes a value and everything it holds, so any mutation by the code under test throws. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

// The agent-clock fields of the HTTP binding; the rest of an event is already domain-shaped.
const TIME_FIELDS = [
  "receivedAt",
  "startedAt",
  "completedAt",
  "failedAt",
  "deferredAt",
  "declaredAt",
  "observedAt",
  "firstFailedAt",
  "convergedAt",
];

/**
 * The domain event of one SPEC §3.2 example body (test/fixtures/spec-examples.ts): its
 * timestamps parsed into Instants. Not a binding; the examples are known to be valid.
 */
export function fromSpecBody(body: string): RemoteEvent {
  const wire = (JSON.parse(body) as { event: Record<string, unknown> }).event;
  const out: Record<string, unknown> = { ...wire };
  for (const field of TIME_FIELDS) {
    if (typeof wire[field] === "string") out[field] = parseInstant(wire[field])!;
  }
  return out as unknown as RemoteEvent;
}
