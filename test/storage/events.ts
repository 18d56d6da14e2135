// Event builders for the storage tests and the bench: terse constructors with valid
// instants, and a legal host lifecycle to generate streams from.
import type { ProbeMode, ProbeStatus } from "../../src/core/domain.js";
import type { RemoteEvent, SubResult } from "../../src/core/event.js";
import { addSeconds, type Instant, parseInstant } from "../../src/core/instant.js";

/** A fixed instant from RFC 3339 text (throws on a typo). */
export function at(text: string): Instant {
  const instant = parseInstant(text);
  if (instant === undefined) throw new Error(`bad instant ${text}`);
  return instant;
}

/** The tests' opening time and a clock that moves one second per call. */
export const T0 = at("2026-05-16T01:00:00Z");

/** `secs` seconds after T0. */
export function t(secs: number): Instant {
  return addSeconds(T0, secs);
}

export const ev = {
  dispatchAck: (seq: number, secs = 1, closure = "prev-closure"): RemoteEvent => ({
    kind: "DispatchAck",
    seq,
    currentClosureAtDispatch: closure,
    receivedAt: t(secs),
  }),
  activationStarted: (seq: number, secs = 2): RemoteEvent => ({
    kind: "ActivationStarted",
    seq,
    startedAt: t(secs),
    switchMethod: "systemd-run",
  }),
  activationCompleted: (seq: number, closure: string, secs = 3): RemoteEvent => ({
    kind: "ActivationCompleted",
    seq,
    observedCurrentClosure: closure,
    exitCode: 0,
    completedAt: t(secs),
  }),
  activationFailed: (seq: number, secs = 3): RemoteEvent => ({
    kind: "ActivationFailed",
    seq,
    exitCode: 1,
    stderrTail: "error: unit foo.service failed",
    failedAt: t(secs),
  }),
  activationDeferred: (seq: number, secs = 3): RemoteEvent => ({
    kind: "ActivationDeferred",
    seq,
    component: "dbus",
    deferredAt: t(secs),
  }),
  topology: (seq: number, secs = 4): RemoteEvent => ({
    kind: "ProbeTopologyDeclared",
    seq,
    probes: [
      { probeName: "http", kind: "http", mode: "enforce" },
      { probeName: "evidence", kind: "evidence", mode: "observe" },
    ],
    declaredAt: t(secs),
  }),
  observedFirst: (seq: number, probeName = "http", secs = 5): RemoteEvent => ({
    kind: "ProbeObservedFirst",
    seq,
    probeName,
    mode: "enforce",
    observedAt: t(secs),
  }),
  probeResult: (
    seq: number,
    probeName: string,
    status: ProbeStatus,
    secs = 6,
    mode: ProbeMode = "enforce",
    subResults?: SubResult[],
  ): RemoteEvent => ({
    kind: "ProbeResult",
    seq,
    probeName,
    mode,
    status,
    observedAt: t(secs),
    ...(status === "fail" ? { failureReason: `${probeName} failed` } : {}),
    ...(subResults === undefined ? {} : { subResults }),
  }),
  failureFirst: (seq: number, probeName = "http", secs = 7): RemoteEvent => ({
    kind: "ProbeFailureFirst",
    seq,
    probeName,
    mode: "enforce",
    firstFailedAt: t(secs),
  }),
  failed: (seq: number, secs = 8): RemoteEvent => ({
    kind: "Failed",
    seq,
    failedAt: t(secs),
    sustainedDurationSecs: 120,
    failingProbes: ["http"],
    policyApplied: "rollback-and-halt",
  }),
  rollbackComplete: (seq: number, closure = "prev-closure", secs = 9): RemoteEvent => ({
    kind: "RollbackComplete",
    seq,
    revertedToClosure: closure,
    exitCode: 0,
    completedAt: t(secs),
  }),
  converged: (seq: number, closure: string, secs: number): RemoteEvent => ({
    kind: "Converged",
    seq,
    convergedAt: t(secs),
    currentClosure: closure,
  }),
};

/**
 * A legal lifecycle of `length` events (>= 5) for one host: dispatch, activation, probe
 * results, then Converged, or (when `fail`) a failure and a rollback to `prevClosure`.
 */
export function lifecycle(
  length: number,
  target: string,
  options: { fail?: boolean; soakSecs?: number; prevClosure?: string } = {},
): RemoteEvent[] {
  const prev = options.prevClosure ?? "prev-closure";
  const out: RemoteEvent[] = [
    ev.dispatchAck(1, 1, prev),
    ev.activationStarted(2, 2),
    ev.activationCompleted(3, target, 3),
  ];
  const tail = options.fail ? 2 : 1;
  let seq = 4;
  while (out.length < length - tail) {
    const failing = options.fail === true && out.length === length - tail - 1;
    out.push(ev.probeResult(seq, "http", failing ? "fail" : "pass", 3 + seq));
    seq++;
  }
  if (options.fail) {
    out.push(ev.failed(seq, 3 + seq));
    out.push(ev.rollbackComplete(seq + 1, prev, 4 + seq));
  } else {
    out.push(ev.converged(seq, target, Math.max(3 + seq, options.soakSecs ?? 0)));
  }
  return out;
}
