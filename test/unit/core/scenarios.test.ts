// Short stories through the state machine (issue 3's scenarios), each checking the record
// and the effects an operator would rely on.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type HostRolloutRecord, replay, step } from "../../../src/core/index.js";
import { SPEC_EXAMPLES } from "../../fixtures/spec-examples.js";
import {
  at,
  CHANNEL,
  event,
  fromSpecBody,
  mustApply,
  mustRefuse,
  NOW,
  OTHER,
  opened,
  PREVIOUS,
  recordIn,
  SOAK_SECS,
  TARGET,
} from "./builders.js";

describe("happy path", () => {
  test("Pending → Activating → Soaking → Converged with passing probes", () => {
    const events = [
      event("DispatchAck", 1),
      event("ActivationStarted", 2),
      event("ActivationCompleted", 3),
      event("ProbeTopologyDeclared", 4),
      event("ProbeObservedFirst", 5),
      event("ProbeResult", 6),
      event("ProbeResult", 7, { probeName: "evidence-nis2", mode: "observe", observedAt: at(21) }),
      event("Converged", 8),
    ];
    const { record, refused } = replay(opened(), events, NOW, "halt");
    assert.deepEqual(refused, []);
    const expected: HostRolloutRecord = {
      ...opened(),
      state: "Converged",
      currentClosureAtDispatch: PREVIOUS,
      currentClosure: TARGET,
      dispatchAckedAt: at(1),
      activationStartedAt: at(3),
      activationCompletedAt: at(5),
      probeObservedFirstAt: at(20),
      convergedAt: at(SOAK_SECS + 5),
      probes: [
        {
          probeName: "evidence-nis2",
          mode: "observe",
          status: "pass",
          lastObservedAt: at(21),
          lastPassAt: at(21),
          failureReason: null,
        },
        {
          probeName: "nginx-version",
          mode: "enforce",
          status: "pass",
          lastObservedAt: at(20),
          lastPassAt: at(20),
          failureReason: null,
        },
      ],
      lastEventSeq: 8,
    };
    assert.deepEqual(record, expected);
  });

  test("the SPEC §3.2 example bodies tell a rollback story that ends Reverted", () => {
    const events = SPEC_EXAMPLES.filter(
      (e) => !["ActivationFailed", "ActivationDeferred", "Converged"].includes(e.kind),
    ).map((e) => fromSpecBody(e.body));
    const { record, refused } = replay(opened(), events, NOW, "rollback-and-halt");
    assert.deepEqual(refused, []);
    assert.equal(record.state, "Reverted");
    assert.equal(record.revertedTo, "abc123-nixos-system-web-01-prev");
    assert.equal(record.currentClosure, "abc123-nixos-system-web-01-prev");
    assert.equal(record.lastEventSeq, 10);
    assert.deepEqual(
      record.probes.map((p) => [p.probeName, p.status, p.failureReason]),
      [
        ["evidence-nis2", "fail", "missing control"],
        ["nginx-version", "pass", null],
      ],
    );
  });
});

describe("activation failure", () => {
  for (const policy of ["halt", "rollback-and-halt"] as const) {
    for (const from of ["Activating", "Deferred"] as const) {
      test(`${from} + ActivationFailed under ${policy} records the rollout's policy`, () => {
        const { record, nextSeq } = recordIn(from);
        const failedAt = at(42);
        const applied = mustApply(
          step(record, event("ActivationFailed", nextSeq, { failedAt }), NOW, policy),
        );
        assert.deepEqual(applied.record, {
          ...record,
          state: "Failed",
          activationFailedAt: failedAt,
          failedAt,
          policyApplied: policy,
          lastEventSeq: nextSeq,
        });
        assert.deepEqual(applied.effects.slice(1), [
          { type: "recordTransition", from, to: "Failed", at: failedAt },
        ]);
      });
    }
  }

  test("RollbackComplete is legal from Failed whatever the policy recorded", () => {
    for (const policy of ["halt", "rollback-and-halt"] as const) {
      const { record, nextSeq } = recordIn("Activating");
      const failed = mustApply(step(record, event("ActivationFailed", nextSeq), NOW, policy));
      const back = mustApply(
        step(failed.record, event("RollbackComplete", nextSeq + 1), NOW, policy),
      );
      assert.equal(back.record.state, "Reverted");
      assert.equal(back.record.policyApplied, policy);
    }
  });
});

describe("soaking failure", () => {
  test("rollback-and-halt: Failed, then RollbackComplete → Reverted and the target is quarantined", () => {
    const { record, nextSeq } = recordIn("Soaking");
    const failed = mustApply(
      step(record, event("Failed", nextSeq, { policyApplied: "rollback-and-halt" }), NOW, "halt"),
    );
    // The agent's policyApplied wins over the rollout's argument.
    assert.equal(failed.record.policyApplied, "rollback-and-halt");
    assert.equal(failed.record.failedAt, at(155));
    assert.equal(failed.record.activationFailedAt, null);

    const rollback = event("RollbackComplete", nextSeq + 1);
    const reverted = mustApply(step(failed.record, rollback, NOW, "halt"));
    assert.deepEqual(reverted.record, {
      ...failed.record,
      state: "Reverted",
      revertedAt: at(160),
      revertedTo: PREVIOUS,
      currentClosure: PREVIOUS,
      lastEventSeq: nextSeq + 1,
    });
    assert.deepEqual(reverted.effects, [
      { type: "appendEventLog", event: rollback },
      { type: "recordTransition", from: "Failed", to: "Reverted", at: at(160) },
      { type: "insertQuarantine", channel: CHANNEL, closure: TARGET },
    ]);
  });

  test("halt: the host stays Failed and every further kind but RollbackComplete is refused", () => {
    const { record, nextSeq } = recordIn("Soaking");
    const failed = mustApply(
      step(record, event("Failed", nextSeq, { policyApplied: "halt" }), NOW, "rollback-and-halt"),
    );
    assert.equal(failed.record.state, "Failed");
    assert.equal(failed.record.policyApplied, "halt");
    for (const kind of ["ProbeResult", "Converged", "ActivationCompleted", "Failed"] as const) {
      const error = mustRefuse(step(failed.record, event(kind, nextSeq + 1), NOW, "halt"));
      assert.deepEqual(error, { type: "illegalForState", state: "Failed", kind });
    }
  });
});

describe("deferred activation", () => {
  test("deferred, then completed after the reboot → Soaking on the new closure", () => {
    const events = [
      event("DispatchAck", 1),
      event("ActivationStarted", 2),
      event("ActivationDeferred", 3, { component: "kernel" }),
      event("ActivationCompleted", 4, { completedAt: at(90) }),
    ];
    const { record, refused } = replay(opened(), events, NOW, "halt");
    assert.deepEqual(refused, []);
    assert.equal(record.state, "Soaking");
    assert.equal(record.currentClosure, TARGET);
    assert.equal(record.activationCompletedAt, at(90));
  });

  test("a second DispatchAck and probe events are illegal while Activating or Deferred", () => {
    for (const state of ["Activating", "Deferred"] as const) {
      const { record, nextSeq } = recordIn(state);
      for (const kind of ["DispatchAck", "ProbeResult", "ProbeObservedFirst"] as const) {
        const error = mustRefuse(step(record, event(kind, nextSeq), NOW, "halt"));
        assert.equal(error.type, "illegalForState", `${state} + ${kind}`);
      }
    }
  });
});

describe("probe map on activation", () => {
  // No legal path leaves probes on an Activating or Deferred record, but a record restored
  // from storage might carry some; the new closure must start with none.
  for (const state of ["Activating", "Deferred"] as const) {
    test(`ActivationCompleted from ${state} clears the probe map`, () => {
      const { record, nextSeq } = recordIn(state);
      const stale: HostRolloutRecord = {
        ...record,
        probes: [
          {
            probeName: "nginx-version",
            mode: "enforce",
            status: "fail",
            lastObservedAt: at(2),
            lastPassAt: null,
            failureReason: "old closure",
          },
        ],
      };
      const applied = mustApply(
        step(
          stale,
          event("ActivationCompleted", nextSeq, { observedCurrentClosure: OTHER }),
          NOW,
          "halt",
        ),
      );
      assert.deepEqual(applied.record.probes, []);
      assert.equal(applied.record.currentClosure, OTHER);
    });
  }
});

describe("Converged invariants", () => {
  test("refused when the closure is not the target", () => {
    const { record, nextSeq } = recordIn("Soaking");
    const error = mustRefuse(
      step(record, event("Converged", nextSeq, { currentClosure: OTHER }), NOW, "halt"),
    );
    assert.deepEqual(error, {
      type: "invariantViolation",
      invariant: "closureMatchesTarget",
      expected: TARGET,
      actual: OTHER,
    });
  });

  test("refused when convergedAt is before soakDueAt; accepted exactly at it", () => {
    const { record, nextSeq } = recordIn("Soaking");
    const early = at(SOAK_SECS - 0.000000001);
    const error = mustRefuse(
      step(record, event("Converged", nextSeq, { convergedAt: early }), NOW, "halt"),
    );
    assert.deepEqual(error, {
      type: "invariantViolation",
      invariant: "soakElapsed",
      expected: `>= ${record.soakDueAt}`,
      actual: early,
    });
    const onTime = step(
      record,
      event("Converged", nextSeq, { convergedAt: record.soakDueAt }),
      NOW,
      "halt",
    );
    assert.equal(mustApply(onTime).record.convergedAt, record.soakDueAt);
  });

  test("refused while an enforce probe fails, naming every failing one", () => {
    const { record, nextSeq } = recordIn("Soaking");
    const events = [
      event("ProbeResult", nextSeq, { probeName: "b-probe", status: "fail" }),
      event("ProbeResult", nextSeq + 1, { probeName: "a-probe", status: "fail" }),
      event("ProbeResult", nextSeq + 2, { probeName: "c-probe", status: "pass" }),
    ];
    const soaked = replay(record, events, NOW, "halt").record;
    const error = mustRefuse(step(soaked, event("Converged", nextSeq + 3), NOW, "halt"));
    assert.deepEqual(error, {
      type: "invariantViolation",
      invariant: "enforceProbesPass",
      expected: "every enforce probe passing",
      actual: "failing: a-probe, b-probe",
    });
  });

  test("accepted with failing observe and disabled probes", () => {
    const { record, nextSeq } = recordIn("Soaking");
    const events = [
      event("ProbeResult", nextSeq, {
        probeName: "evidence-nis2",
        mode: "observe",
        status: "fail",
      }),
      event("ProbeResult", nextSeq + 1, { probeName: "legacy", mode: "disabled", status: "fail" }),
      event("ProbeResult", nextSeq + 2),
      event("Converged", nextSeq + 3),
    ];
    const { record: done, refused } = replay(record, events, NOW, "halt");
    assert.deepEqual(refused, []);
    assert.equal(done.state, "Converged");
  });

  test("an enforce probe that recovers no longer blocks", () => {
    const { record, nextSeq } = recordIn("Soaking");
    const events = [
      event("ProbeResult", nextSeq, { status: "fail", failureReason: "503" }),
      event("ProbeResult", nextSeq + 1, { status: "pass", observedAt: at(60) }),
      event("Converged", nextSeq + 2),
    ];
    assert.equal(replay(record, events, NOW, "halt").record.state, "Converged");
  });

  test("invariants are checked in order: closure, then soak, then probes", () => {
    const { record, nextSeq } = recordIn("Soaking");
    const failing = mustApply(
      step(record, event("ProbeResult", nextSeq, { status: "fail" }), NOW, "halt"),
    );
    const seq = nextSeq + 1;
    const bad = { currentClosure: OTHER, convergedAt: at(1) };
    const first = mustRefuse(step(failing.record, event("Converged", seq, bad), NOW, "halt"));
    assert.equal(first.type === "invariantViolation" && first.invariant, "closureMatchesTarget");
    const second = mustRefuse(
      step(failing.record, event("Converged", seq, { convergedAt: at(1) }), NOW, "halt"),
    );
    assert.equal(second.type === "invariantViolation" && second.invariant, "soakElapsed");
    const third = mustRefuse(step(failing.record, event("Converged", seq), NOW, "halt"));
    assert.equal(third.type === "invariantViolation" && third.invariant, "enforceProbesPass");
  });
});

describe("first-time markers", () => {
  test("ProbeObservedFirst and ProbeFailureFirst set their instant only once", () => {
    const { record, nextSeq } = recordIn("Soaking");
    const events = [
      event("ProbeObservedFirst", nextSeq, { observedAt: at(20) }),
      event("ProbeFailureFirst", nextSeq + 1, { firstFailedAt: at(35) }),
      event("ProbeObservedFirst", nextSeq + 2, { probeName: "other", observedAt: at(50) }),
      event("ProbeFailureFirst", nextSeq + 3, { probeName: "other", firstFailedAt: at(65) }),
    ];
    const { record: after, applied } = replay(record, events, NOW, "halt");
    assert.equal(applied.length, 4);
    assert.equal(after.probeObservedFirstAt, at(20));
    assert.equal(after.probeFailureFirstAt, at(35));
    assert.equal(after.lastEventSeq, nextSeq + 3);
  });
});
