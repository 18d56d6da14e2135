// Seq gaps (SPEC §8): applied past last+1, counted and listed on the record; a late copy of a
// missing seq fills its gap without touching the state.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fillGap, fillsGap, MAX_LISTED_MISSING_SEQS, step } from "../../../src/core/index.js";
import { event, mustApply, NOW, recordIn } from "./builders.js";

describe("seq gaps", () => {
  test("seq 1, 2, 5 ⇒ all applied, 3 and 4 missing", () => {
    const { record } = recordIn("Pending");
    let r = mustApply(step(record, event("DispatchAck", 1), NOW, "halt")).record;
    r = mustApply(step(r, event("ActivationStarted", 2), NOW, "halt")).record;
    assert.equal(r.missingSeqCount, 0);
    r = mustApply(step(r, event("ActivationStarted", 5), NOW, "halt")).record;
    assert.equal(r.lastEventSeq, 5);
    assert.equal(r.missingSeqCount, 2);
    assert.deepEqual(r.missingSeqs, [3, 4]);
  });

  test("the count is unbounded, the list keeps the lowest", () => {
    const { record } = recordIn("Activating");
    const r = mustApply(step(record, event("ActivationStarted", 1_000_002), NOW, "halt")).record;
    assert.equal(r.missingSeqCount, 1_000_000);
    assert.equal(r.missingSeqs.length, MAX_LISTED_MISSING_SEQS);
    assert.equal(r.missingSeqs[0], 2);
    const more = mustApply(step(r, event("ActivationStarted", 1_000_004), NOW, "halt")).record;
    assert.equal(more.missingSeqCount, 1_000_001);
    assert.deepEqual(more.missingSeqs, r.missingSeqs);
  });

  test("a refused event records no gap", () => {
    const { record } = recordIn("Activating");
    const result = step(record, event("Converged", 9), NOW, "halt");
    assert.equal(result.ok, false);
    assert.equal(record.missingSeqCount, 0);
  });

  test("filling a listed seq removes it; anything else changes nothing", () => {
    const { record } = recordIn("Activating");
    const r = mustApply(step(record, event("ActivationStarted", 5), NOW, "halt")).record;
    assert.equal(fillsGap(r, 3), true);
    const filled = fillGap(r, 3);
    assert.deepEqual(filled.missingSeqs, [2, 4]);
    assert.equal(filled.missingSeqCount, 2);
    assert.equal(filled.state, r.state);
    assert.equal(filled.lastEventSeq, 5);
    assert.equal(fillsGap(filled, 3), false);
    assert.equal(fillGap(filled, 3), filled);
    assert.equal(fillGap(filled, 1), filled);
  });
});
