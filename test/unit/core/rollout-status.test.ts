// The derived rollout status over every interesting mix of host states.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { HostState } from "../../../src/core/domain.js";
import { type RolloutStatus, rolloutStatus } from "../../../src/core/rollout-status.js";

const cases: [Partial<Record<HostState, number>>, RolloutStatus][] = [
  [{}, "in-progress"],
  [{ Pending: 3 }, "in-progress"],
  [{ Pending: 1, Soaking: 1, Converged: 1 }, "in-progress"],
  [{ Converged: 4 }, "converged"],
  [{ Failed: 1, Converged: 2 }, "halted-on-failure"],
  [{ Failed: 1, Reverted: 1 }, "halted-on-failure"],
  [{ Reverted: 1, Activating: 1 }, "halted-on-failure"],
  [{ Reverted: 1, Converged: 3 }, "reverted"],
  [{ Reverted: 2 }, "reverted"],
];

for (const [counts, expected] of cases) {
  test(`${JSON.stringify(counts)} is ${expected}`, () => {
    const map = new Map(Object.entries(counts) as [HostState, number][]);
    assert.equal(rolloutStatus(map), expected);
  });
}
