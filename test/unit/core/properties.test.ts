// Property tests over random event sequences: the invariants of step() and replay() that
// must hold whatever an agent (or an attacker with a valid certificate) sends.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  EVENT_KINDS,
  type EventKind,
  eventTime,
  type HealthFailurePolicy,
  type HostRolloutRecord,
  type RemoteEvent,
  replay,
  type StepResult,
  step,
} from "../../../src/core/index.js";
import {
  at,
  deepFreeze,
  event,
  legalTarget,
  NOW,
  OTHER,
  opened,
  PREVIOUS,
  recordIn,
  SOAK_SECS,
  TARGET,
} from "./builders.js";

const NUM_RUNS = 500;

// Small value pools so random sequences collide on probe names and closures, and
// Converged lands both before and after the soak is due.
const arbTime = fc.oneof(
  fc.integer({ min: 0, max: 2 * SOAK_SECS }).map(at),
  fc.constant(at(SOAK_SECS)),
);
const arbClosure = fc.oneof(
  { arbitrary: fc.constant(TARGET), weight: 4 },
  { arbitrary: fc.constantFrom(PREVIOUS, OTHER), weight: 1 },
);
const arbName = fc.constantFrom("a-probe", "b-probe", "c-probe");
const arbMode = fc.constantFrom("enforce", "observe", "disabled");
const arbStatus = fc.constantFrom("pass", "fail");
// Converged mostly after the soak is due, so it is refused for other reasons too.
const arbConvergedTime = fc.oneof(
  { arbitrary: fc.integer({ min: SOAK_SECS, max: 2 * SOAK_SECS }).map(at), weight: 3 },
  { arbitrary: arbTime, weight: 1 },
);
// Probes mostly pass, so Converged is often reached with probes in the map.
const arbProbeStatus = fc.oneof(
  { arbitrary: fc.constant("pass" as const), weight: 3 },
  { arbitrary: fc.constant("fail" as const), weight: 1 },
);
const arbPolicy = fc.constantFrom<HealthFailurePolicy>("halt", "rollback-and-halt");
const arbSubResult = fc.record(
  {
    controlId: fc.constantFrom("A.8.1", "A.9.9"),
    status: arbStatus,
    framework: fc.constant("nis2"),
    effectiveMode: arbMode,
  },
  { requiredKeys: ["controlId", "status", "framework"] },
);

type Body = (seq: number) => RemoteEvent;
const withClosureAndTime = fc.record({ c: arbClosure, t: arbTime });
const withNameAndTime = fc.record({ n: arbName, t: arbTime });
const arbProbeResult = fc.record(
  {
    n: arbName,
    m: arbMode,
    s: arbProbeStatus,
    t: arbTime,
    r: fc.constantFrom("timeout", "503"),
    subs: fc.array(arbSubResult, { maxLength: 2 }),
  },
  { requiredKeys: ["n", "m", "s", "t"] },
);

/** One candidate event (without its seq) of every kind; the sequence picks one. */
const arbBodies: fc.Arbitrary<{ [K in EventKind]: Body }> = fc.record({
  DispatchAck: withClosureAndTime.map(
    ({ c, t }) =>
      (seq: number) =>
        event("DispatchAck", seq, { currentClosureAtDispatch: c, receivedAt: t }),
  ),
  ActivationStarted: arbTime.map(
    (t) => (seq: number) => event("ActivationStarted", seq, { startedAt: t }),
  ),
  ActivationCompleted: withClosureAndTime.map(
    ({ c, t }) =>
      (seq: number) =>
        event("ActivationCompleted", seq, { observedCurrentClosure: c, completedAt: t }),
  ),
  ActivationFailed: arbTime.map(
    (t) => (seq: number) => event("ActivationFailed", seq, { failedAt: t }),
  ),
  ActivationDeferred: arbTime.map(
    (t) => (seq: number) => event("ActivationDeferred", seq, { deferredAt: t }),
  ),
  ProbeTopologyDeclared: arbTime.map(
    (t) => (seq: number) => event("ProbeTopologyDeclared", seq, { declaredAt: t }),
  ),
  ProbeObservedFirst: withNameAndTime.map(
    ({ n, t }) =>
      (seq: number) =>
        event("ProbeObservedFirst", seq, { probeName: n, observedAt: t }),
  ),
  ProbeResult: arbProbeResult.map(
    ({ n, m, s, t, r, subs }) =>
      (seq: number) =>
        event("ProbeResult", seq, {
          probeName: n,
          mode: m,
          status: s,
          observedAt: t,
          ...(r === undefined ? {} : { failureReason: r }),
          ...(subs === undefined ? {} : { subResults: subs }),
        }),
  ),
  ProbeFailureFirst: withNameAndTime.map(
    ({ n, t }) =>
      (seq: number) =>
        event("ProbeFailureFirst", seq, { probeName: n, firstFailedAt: t }),
  ),
  Failed: fc.record({ p: arbPolicy, t: arbTime }).map(
    ({ p, t }) =>
      (seq: number) =>
        event("Failed", seq, { policyApplied: p, failedAt: t }),
  ),
  RollbackComplete: withClosureAndTime.map(
    ({ c, t }) =>
      (seq: number) =>
        event("RollbackComplete", seq, { revertedToClosure: c, completedAt: t }),
  ),
  Converged: fc.record({ c: arbClosure, t: arbConvergedTime }).map(
    ({ c, t }) =>
      (seq: number) =>
        event("Converged", seq, { currentClosure: c, convergedAt: t }),
  ),
});

// Mostly last+1, sometimes a retry or an older seq, sometimes a gap.
const arbSeqStep = fc.oneof(
  { arbitrary: fc.constant(1), weight: 10 },
  { arbitrary: fc.integer({ min: -3, max: 0 }), weight: 2 },
  { arbitrary: fc.integer({ min: 2, max: 5 }), weight: 1 },
);

const arbItem = fc.record({
  bodies: arbBodies,
  // Uniformly random kinds almost never get past Pending; most picks are steered to a kind
  // the SPEC table allows in the current state, so every state is reached often.
  steered: fc.oneof(
    { arbitrary: fc.constant(true), weight: 3 },
    { arbitrary: fc.constant(false), weight: 1 },
  ),
  pick: fc.noBias(fc.nat({ max: 1_000_000 })),
  delta: arbSeqStep,
});

// How often a steered pick chooses each kind among those legal: probe results are the bulk
// of a real soak, and failures are rarer so that runs reach Converged about as often.
const STEER_WEIGHT: Partial<Record<EventKind, number>> = {
  ProbeResult: 6,
  Converged: 3,
  ActivationFailed: 1,
  Failed: 1,
};

function steeredPool(record: HostRolloutRecord): EventKind[] {
  return EVENT_KINDS.filter((k) => legalTarget(record.state, k) !== undefined).flatMap((k) =>
    Array<EventKind>(STEER_WEIGHT[k] ?? 2).fill(k),
  );
}

const arbEvents: fc.Arbitrary<RemoteEvent[]> = fc
  .tuple(fc.array(arbItem, { maxLength: 40, size: "medium" }), arbPolicy)
  .map(([items, policy]) => {
    let seq = 0;
    let record = opened();
    return items.map(({ bodies, steered, pick, delta }) => {
      const legal = steeredPool(record);
      const pool = steered && legal.length > 0 ? legal : EVENT_KINDS;
      seq = Math.max(1, seq + delta);
      const e = deepFreeze(bodies[pool[pick % pool.length]!](seq));
      const result = step(record, e, NOW, policy);
      if (result.ok) record = result.record;
      return e;
    });
  });

interface Step {
  readonly before: HostRolloutRecord;
  readonly event: RemoteEvent;
  readonly result: StepResult;
}

/** Every step of a sequence from the opened record, with the record it started from. */
function trace(events: readonly RemoteEvent[], policy: HealthFailurePolicy): Step[] {
  let record = deepFreeze(opened());
  const steps: Step[] = [];
  for (const e of events) {
    const result = step(record, e, NOW, policy);
    steps.push({ before: record, event: e, result });
    if (result.ok) record = deepFreeze(result.record);
  }
  return steps;
}

function finalRecord(steps: readonly Step[]): HostRolloutRecord {
  const last = steps.findLast((s) => s.result.ok)?.result;
  return last?.ok ? last.record : opened();
}

const check = (prop: fc.IPropertyWithHooks<[RemoteEvent[], HealthFailurePolicy]>) =>
  fc.assert(prop, { numRuns: NUM_RUNS });

describe("step over random event sequences", () => {
  test("is deterministic", () => {
    check(
      fc.property(arbEvents, arbPolicy, (events, policy) => {
        assert.deepEqual(trace(events, policy), trace(events, policy));
      }),
    );
  });

  test("lastEventSeq never decreases and equals the last applied seq", () => {
    check(
      fc.property(arbEvents, arbPolicy, (events, policy) => {
        let lastApplied = 0;
        const seen = new Set<number>();
        for (const { before, event: e, result } of trace(events, policy)) {
          assert.equal(before.lastEventSeq, lastApplied);
          if (!result.ok) continue;
          seen.add(e.seq);
          // Every seq up to the last is either logged or counted missing.
          assert.equal(result.record.missingSeqCount, result.record.lastEventSeq - seen.size);
          if (e.seq < before.lastEventSeq) {
            // A late copy of a missing seq: logged, the head and the state stay.
            assert.ok(before.missingSeqs.includes(e.seq));
            assert.equal(result.record.lastEventSeq, before.lastEventSeq);
            assert.equal(result.record.state, before.state);
            continue;
          }
          assert.ok(result.record.lastEventSeq > before.lastEventSeq);
          assert.equal(result.record.lastEventSeq, e.seq);
          lastApplied = e.seq;
        }
      }),
    );
  });

  test("a refused event leaves the record unchanged", () => {
    check(
      fc.property(arbEvents, arbPolicy, (events, policy) => {
        let record = opened();
        for (const e of events) {
          const snapshot = structuredClone(record);
          const result = step(record, e, NOW, policy);
          assert.deepEqual(record, snapshot);
          if (result.ok) record = result.record;
        }
        assert.deepEqual(replay(opened(), events, NOW, policy).record, record);
      }),
    );
  });

  test("Converged implies the target closure and every enforce probe passing", () => {
    check(
      fc.property(arbEvents, arbPolicy, (events, policy) => {
        for (const { result } of trace(events, policy)) {
          if (!result.ok || result.record.state !== "Converged") continue;
          assert.equal(result.record.currentClosure, result.record.targetClosure);
          for (const p of result.record.probes)
            if (p.mode === "enforce") assert.equal(p.status, "pass");
          assert.ok(result.record.convergedAt! >= result.record.soakDueAt);
        }
      }),
    );
  });

  test("Converged and Reverted reject every kind", () => {
    check(
      fc.property(arbEvents, arbPolicy, (events, policy) => {
        for (const { before, event: e, result } of trace(events, policy)) {
          if (before.state !== "Converged" && before.state !== "Reverted") continue;
          // Only a late copy of a missing seq is taken there (logged, nothing moves).
          assert.equal(result.ok, before.missingSeqs.includes(e.seq));
          for (const kind of EVENT_KINDS) {
            const fresh = step(before, event(kind, before.lastEventSeq + 1), NOW, policy);
            assert.deepEqual(fresh, {
              ok: false,
              error: { type: "illegalForState", state: before.state, kind },
            });
          }
          assert.ok(e.seq > 0);
        }
      }),
    );
  });

  test("replaying the applied events from the opened record reproduces the final record", () => {
    check(
      fc.property(arbEvents, arbPolicy, (events, policy) => {
        const steps = trace(events, policy);
        const applied = steps.filter((s) => s.result.ok).map((s) => s.event);
        const again = replay(opened(), applied, NOW, policy);
        assert.deepEqual(again.refused, []);
        assert.deepEqual(again.applied, applied);
        assert.deepEqual(again.record, finalRecord(steps));
      }),
    );
  });

  test("effects follow their contract order and the probe list stays sorted and unique", () => {
    check(
      fc.property(arbEvents, arbPolicy, (events, policy) => {
        for (const { before, event: e, result } of trace(events, policy)) {
          if (!result.ok) continue;
          const [first, ...rest] = result.effects;
          assert.deepEqual(first, { type: "appendEventLog", event: e });
          const moved = before.state !== result.record.state;
          const late = e.seq <= before.lastEventSeq;
          if (late) assert.deepEqual(rest, [], "a late copy of a missing seq is only logged");
          const expectedTypes = [
            ...(moved ? ["recordTransition"] : []),
            ...(e.kind === "RollbackComplete" && !late ? ["insertQuarantine"] : []),
          ];
          const head = rest.slice(0, expectedTypes.length);
          assert.deepEqual(
            head.map((x) => x.type),
            expectedTypes,
          );
          if (moved) assert.equal(head[0]?.type === "recordTransition" && head[0].at, eventTime(e));
          for (const x of rest.slice(expectedTypes.length))
            assert.equal(x.type, "recordProbeFailure");
          const names = result.record.probes.map((p) => p.probeName);
          assert.deepEqual(names, [...new Set(names)].sort());
        }
      }),
    );
  });
  test("from Soaking, Converged applies exactly when each enforce probe's last result passed", () => {
    const arbResult = fc.record({ n: arbName, m: arbMode, s: arbProbeStatus });
    fc.assert(
      fc.property(fc.array(arbResult, { maxLength: 12 }), (results) => {
        const { record, nextSeq } = recordIn("Soaking");
        const events = results.map(({ n, m, s }, i) =>
          event("ProbeResult", nextSeq + i, { probeName: n, mode: m, status: s }),
        );
        const soaked = replay(record, events, NOW, "halt").record;
        // The model: the last result per name decides, independently of the probe map code.
        const last = new Map(results.map((r) => [r.n, r]));
        const blocked = [...last.values()].filter((r) => r.m === "enforce" && r.s === "fail");
        const result = step(soaked, event("Converged", nextSeq + results.length), NOW, "halt");
        assert.equal(result.ok, blocked.length === 0);
        if (!result.ok) {
          const names = blocked.map((r) => r.n).sort();
          assert.deepEqual(result.error, {
            type: "invariantViolation",
            invariant: "enforceProbesPass",
            expected: "every enforce probe passing",
            actual: `failing: ${names.join(", ")}`,
          });
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
