// Opening a rollout's records (SPEC §5) and replaying events from them.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { openRecords, parseInstant, replay } from "../../../src/core/index.js";
import { at, deepFreeze, event, NOW, opened, T0 } from "./builders.js";

describe("openRecords", () => {
  test("one Pending record per host, in order, with nothing known yet", () => {
    const input = {
      rolloutId: "stable@3f2a9c1e",
      channel: "stable",
      soakDurationSecs: 600,
      hosts: [
        { hostname: "web-01", targetClosure: "aaa-web-01" },
        { hostname: "db-01", targetClosure: "bbb-db-01" },
      ],
    };
    const records = openRecords(deepFreeze(input), T0);
    assert.equal(records.length, 2);
    assert.deepEqual(records[1], {
      rolloutId: "stable@3f2a9c1e",
      hostname: "db-01",
      channel: "stable",
      state: "Pending",
      targetClosure: "bbb-db-01",
      currentClosureAtDispatch: null,
      currentClosure: null,
      revertedTo: null,
      dispatchedAt: T0,
      dispatchAckedAt: null,
      activationStartedAt: null,
      activationCompletedAt: null,
      activationFailedAt: null,
      probeObservedFirstAt: null,
      probeFailureFirstAt: null,
      soakDueAt: parseInstant("2026-05-16T01:37:00Z"),
      convergedAt: null,
      failedAt: null,
      policyApplied: null,
      revertedAt: null,
      probes: [],
      lastEventSeq: 0,
      missingSeqCount: 0,
      missingSeqs: [],
    });
    assert.equal(records[0]?.hostname, "web-01");
  });

  test("a zero soak makes the soak due at dispatch; no hosts opens nothing", () => {
    assert.equal(opened({ soakDurationSecs: 0 }).soakDueAt, T0);
    assert.deepEqual(
      openRecords({ rolloutId: "s@1", channel: "s", soakDurationSecs: 1, hosts: [] }, T0),
      [],
    );
  });

  test("records do not share their probe list", () => {
    const [a, b] = openRecords(
      {
        rolloutId: "s@1",
        channel: "s",
        soakDurationSecs: 1,
        hosts: [
          { hostname: "a", targetClosure: "x" },
          { hostname: "b", targetClosure: "x" },
        ],
      },
      T0,
    );
    assert.notEqual(a?.probes, b?.probes);
  });
});

describe("replay", () => {
  test("applies legal events, reports refused ones with their error, and goes on", () => {
    const events = [
      event("DispatchAck", 1),
      event("DispatchAck", 1),
      event("ProbeResult", 2),
      event("ActivationCompleted", 3),
    ];
    const result = replay(opened(), events, NOW, "halt");
    assert.equal(result.record.state, "Soaking");
    assert.equal(result.record.lastEventSeq, 3);
    assert.deepEqual(result.applied, [events[0], events[3]]);
    assert.deepEqual(result.refused, [
      { event: events[1], error: { type: "seqRegression", seq: 1, lastEventSeq: 1 } },
      {
        event: events[2],
        error: { type: "illegalForState", state: "Activating", kind: "ProbeResult" },
      },
    ]);
  });

  test("no events leaves the opened record as it was", () => {
    const start = deepFreeze(opened());
    const result = replay(start, [], NOW, "halt");
    assert.equal(result.record, start);
    assert.deepEqual([result.applied, result.refused], [[], []]);
  });

  test("the policy argument reaches step", () => {
    const events = [event("DispatchAck", 1), event("ActivationFailed", 2, { failedAt: at(9) })];
    assert.equal(
      replay(opened(), events, NOW, "rollback-and-halt").record.policyApplied,
      "rollback-and-halt",
    );
  });
});
