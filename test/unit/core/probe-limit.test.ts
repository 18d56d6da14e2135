// Issue 11 fix 4: a record holds at most `maxProbes` distinct probe names; a ProbeResult that
// would add one more is refused (failed_precondition at the edge), known names still apply.
import assert from "node:assert/strict";
import { test } from "node:test";
import { step } from "../../../src/core/step.js";
import { describeStepError } from "../../../src/core/step-error.js";
import { event, mustApply, mustRefuse, NOW, recordIn } from "./builders.js";

test("the probe map stops growing at the cap; known probes and other events still apply", () => {
  let { record, nextSeq: seq } = recordIn("Soaking");
  const limits = { maxProbes: 3 };
  for (const name of ["a", "b", "c"]) {
    record = mustApply(
      step(record, event("ProbeResult", seq++, { probeName: name }), NOW, "halt", limits),
    ).record;
  }
  const error = mustRefuse(
    step(record, event("ProbeResult", seq, { probeName: "d" }), NOW, "halt", limits),
  );
  assert.deepEqual(error, { type: "probeLimit", probeName: "d", maxProbes: 3 });
  assert.match(describeStepError(error), /cap of 3 distinct probes/);
  // The refused seq is free again: a known name with the same seq applies.
  const again = mustApply(
    step(
      record,
      event("ProbeResult", seq, { probeName: "b", status: "fail" }),
      NOW,
      "halt",
      limits,
    ),
  );
  assert.equal(again.record.probes.length, 3);
  // Without limits (replay) nothing is capped.
  assert.equal(
    mustApply(step(record, event("ProbeResult", seq, { probeName: "d" }), NOW, "halt")).record
      .probes.length,
    4,
  );
});
