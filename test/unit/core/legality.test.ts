// The legality table of SPEC §4 over all 7 states × 12 kinds, written out independently of
// the implementation, and the seq check that comes before it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { EVENT_KINDS, HOST_STATES, step } from "../../../src/core/index.js";
import {
  deepFreeze,
  event,
  LEGAL,
  legalTarget,
  mustApply,
  mustRefuse,
  NOW,
  recordIn,
} from "./builders.js";

describe("legality table (7 states × 12 kinds)", () => {
  test("the table has 14 distinct legal pairs", () => {
    assert.equal(new Set(LEGAL.map(([from, kind]) => `${from}/${kind}`)).size, 14);
    assert.equal(HOST_STATES.length * EVENT_KINDS.length, 84);
  });

  for (const state of HOST_STATES) {
    for (const kind of EVENT_KINDS) {
      const to = legalTarget(state, kind);
      test(`${state} + ${kind} ⇒ ${to ?? "illegalForState"}`, () => {
        const { record, nextSeq } = recordIn(state);
        deepFreeze(record);
        const result = step(record, deepFreeze(event(kind, nextSeq)), NOW, "halt");
        if (to === undefined) {
          assert.deepEqual(mustRefuse(result), { type: "illegalForState", state, kind });
        } else {
          const applied = mustApply(result);
          assert.equal(applied.record.state, to);
          assert.equal(applied.record.lastEventSeq, nextSeq);
        }
      });
    }
  }
});

describe("seq regression is checked before legality", () => {
  for (const [state, kind] of LEGAL) {
    test(`${state} + ${kind} with a stale seq ⇒ seqRegression`, () => {
      const { record, nextSeq } = recordIn(state);
      const last = nextSeq - 1;
      assert.equal(record.lastEventSeq, last);
      // Equal to the last, and every seq below it down to the first.
      for (let seq = last; seq >= 1; seq--) {
        const error = mustRefuse(step(record, event(kind, seq), NOW, "halt"));
        assert.deepEqual(error, { type: "seqRegression", seq, lastEventSeq: last });
      }
    });
  }

  test("a Pending record (last seq 0) accepts seq 1 and refuses 0 as a regression", () => {
    const { record } = recordIn("Pending");
    assert.equal(record.lastEventSeq, 0);
    assert.deepEqual(mustRefuse(step(record, event("DispatchAck", 0), NOW, "halt")), {
      type: "seqRegression",
      seq: 0,
      lastEventSeq: 0,
    });
    assert.equal(
      mustApply(step(record, event("DispatchAck", 1), NOW, "halt")).record.state,
      "Activating",
    );
  });

  test("a stale illegal event reports seqRegression, not illegalForState", () => {
    for (const state of HOST_STATES) {
      const { record, nextSeq } = recordIn(state);
      for (const kind of EVENT_KINDS) {
        if (legalTarget(state, kind) !== undefined || nextSeq === 1) continue;
        const error = mustRefuse(step(record, event(kind, nextSeq - 1), NOW, "halt"));
        assert.equal(error.type, "seqRegression", `${state} + ${kind}`);
      }
    }
  });

  test("gaps in seq are tolerated", () => {
    const { record } = recordIn("Activating");
    const applied = mustApply(step(record, event("ActivationStarted", 40), NOW, "halt"));
    assert.equal(applied.record.lastEventSeq, 40);
  });
});
