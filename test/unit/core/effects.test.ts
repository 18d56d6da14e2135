// The effects contract (their order and contents) and the probe map upsert of SPEC §4:
// what the runtime writes besides the record.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Effect, step } from "../../../src/core/index.js";
import { at, deepFreeze, event, mustApply, NOW, recordIn } from "./builders.js";

const kinds = (effects: readonly Effect[]) => effects.map((e) => e.type);

describe("effect order", () => {
  test("an event that keeps the state only appends to the event log", () => {
    const { record, nextSeq } = recordIn("Activating");
    const started = event("ActivationStarted", nextSeq);
    assert.deepEqual(mustApply(step(record, started, NOW, "halt")).effects, [
      { type: "appendEventLog", event: started },
    ]);
  });

  test("a state change appends, then records the transition at the agent's time", () => {
    const { record, nextSeq } = recordIn("Pending");
    const ack = event("DispatchAck", nextSeq, { receivedAt: at(7) });
    assert.deepEqual(mustApply(step(record, ack, NOW, "halt")).effects, [
      { type: "appendEventLog", event: ack },
      { type: "recordTransition", from: "Pending", to: "Activating", at: at(7) },
    ]);
  });

  test("RollbackComplete: append, transition, quarantine", () => {
    const { record, nextSeq } = recordIn("Failed");
    const effects = mustApply(
      step(record, event("RollbackComplete", nextSeq), NOW, "halt"),
    ).effects;
    assert.deepEqual(kinds(effects), ["appendEventLog", "recordTransition", "insertQuarantine"]);
  });

  test("a failing enforce ProbeResult with sub-results: append, then its failing enforce controls only", () => {
    const { record, nextSeq } = recordIn("Soaking");
    const result = event("ProbeResult", nextSeq, {
      probeName: "evidence-nis2",
      status: "fail",
      observedAt: at(21),
      failureReason: "missing control",
      subResults: [
        {
          controlId: "A.8.1",
          status: "fail",
          framework: "nis2",
          article: "21.2.h",
          effectiveMode: "enforce",
        },
        { controlId: "A.8.2", status: "pass", framework: "nis2" },
        { controlId: "enc-at-rest", status: "fail", framework: "nis2", effectiveMode: "observe" },
        { controlId: "A.9.9", status: "fail", framework: "iso27001" },
      ],
    });
    const row = {
      type: "recordProbeFailure",
      probeName: "evidence-nis2",
      mode: "enforce",
    } as const;
    const common = { failureReason: "missing control", observedAt: at(21) };
    assert.deepEqual(mustApply(step(record, result, NOW, "halt")).effects, [
      { type: "appendEventLog", event: result },
      { ...row, controlId: "A.8.1", framework: "nis2", ...common },
      // An absent effectiveMode means enforce.
      { ...row, controlId: "A.9.9", framework: "iso27001", ...common },
    ]);
  });

  test("an observe probe's failure is not recorded, but its failing enforce controls are", () => {
    const { record, nextSeq } = recordIn("Soaking");
    const result = event("ProbeResult", nextSeq, {
      mode: "observe",
      status: "fail",
      subResults: [{ controlId: "A.8.1", status: "fail", framework: "nis2" }],
    });
    const effects = mustApply(step(record, result, NOW, "halt")).effects;
    assert.deepEqual(
      effects.map((e) =>
        e.type === "recordProbeFailure" ? [e.controlId, e.failureReason] : e.type,
      ),
      ["appendEventLog", ["A.8.1", null]],
    );
  });

  test("a failing enforce ProbeResult without sub-results (absent, null or empty) records the probe", () => {
    const { record, nextSeq } = recordIn("Soaking");
    for (const subResults of [undefined, null, []]) {
      const result = {
        ...event("ProbeResult", nextSeq, { status: "fail", failureReason: "down" }),
        subResults,
      } as never;
      const effects = mustApply(step(record, result, NOW, "halt")).effects;
      assert.deepEqual(
        effects.map((e) =>
          e.type === "recordProbeFailure" ? [e.controlId, e.failureReason] : e.type,
        ),
        ["appendEventLog", [null, "down"]],
        String(subResults),
      );
    }
  });

  test("a failing enforce ProbeResult whose sub-results all pass records nothing", () => {
    const { record, nextSeq } = recordIn("Soaking");
    const result = event("ProbeResult", nextSeq, {
      status: "fail",
      subResults: [{ controlId: "A.8.2", status: "pass", framework: "nis2" }],
    });
    assert.deepEqual(kinds(mustApply(step(record, result, NOW, "halt")).effects), [
      "appendEventLog",
    ]);
  });

  test("a passing ProbeResult records no failure", () => {
    const { record, nextSeq } = recordIn("Soaking");
    const effects = mustApply(step(record, event("ProbeResult", nextSeq), NOW, "halt")).effects;
    assert.deepEqual(kinds(effects), ["appendEventLog"]);
  });
});

describe("probe map upsert", () => {
  test("creates, then updates by name, keeping the list sorted by probeName", () => {
    const { record, nextSeq } = recordIn("Soaking");
    let current = record;
    for (const [i, name] of ["m", "b", "z", "a", "b"].entries()) {
      current = mustApply(
        step(current, event("ProbeResult", nextSeq + i, { probeName: name }), NOW, "halt"),
      ).record;
    }
    assert.deepEqual(
      current.probes.map((p) => p.probeName),
      ["a", "b", "m", "z"],
    );
  });

  test("a pass sets lastPassAt and clears failureReason; a fail keeps lastPassAt", () => {
    const { record, nextSeq } = recordIn("Soaking");
    const pass = mustApply(
      step(record, event("ProbeResult", nextSeq, { observedAt: at(20) }), NOW, "halt"),
    );
    const fail = mustApply(
      step(
        pass.record,
        event("ProbeResult", nextSeq + 1, {
          status: "fail",
          mode: "observe",
          observedAt: at(30),
          failureReason: "timeout",
        }),
        NOW,
        "halt",
      ),
    );
    assert.deepEqual(fail.record.probes, [
      {
        probeName: "nginx-version",
        mode: "observe",
        status: "fail",
        lastObservedAt: at(30),
        lastPassAt: at(20),
        failureReason: "timeout",
      },
    ]);
    const again = mustApply(
      step(fail.record, event("ProbeResult", nextSeq + 2, { observedAt: at(40) }), NOW, "halt"),
    );
    assert.deepEqual(again.record.probes, [
      {
        probeName: "nginx-version",
        mode: "enforce",
        status: "pass",
        lastObservedAt: at(40),
        lastPassAt: at(40),
        failureReason: null,
      },
    ]);
  });

  test("a first result that fails without a reason has no lastPassAt and a null reason", () => {
    const { record, nextSeq } = recordIn("Soaking");
    const applied = mustApply(
      step(record, event("ProbeResult", nextSeq, { status: "fail" }), NOW, "halt"),
    );
    assert.deepEqual(applied.record.probes[0], {
      probeName: "nginx-version",
      mode: "enforce",
      status: "fail",
      lastObservedAt: at(20),
      lastPassAt: null,
      failureReason: null,
    });
  });

  test("sub-results never touch the record", () => {
    const { record, nextSeq } = recordIn("Soaking");
    const plain = event("ProbeResult", nextSeq, { status: "fail" });
    const withSubs = {
      ...plain,
      subResults: [{ controlId: "x", status: "fail", framework: "f" }],
    } as const;
    assert.deepEqual(
      mustApply(step(record, withSubs, NOW, "halt")).record,
      mustApply(step(record, plain, NOW, "halt")).record,
    );
  });

  test("step never modifies its inputs", () => {
    const { record, nextSeq } = recordIn("Soaking");
    const frozen = deepFreeze(
      mustApply(step(record, event("ProbeResult", nextSeq), NOW, "halt")).record,
    );
    const result = deepFreeze(
      event("ProbeResult", nextSeq + 1, { probeName: "a", status: "fail" }),
    );
    const applied = mustApply(step(frozen, result, NOW, "halt"));
    assert.notEqual(applied.record, frozen);
    assert.equal(frozen.probes.length, 1);
    assert.equal(applied.record.probes.length, 2);
  });
});
