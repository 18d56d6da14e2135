// The status page's pure parts: counts by state kept through snapshot and changes, natural
// hostname order, and the rollout status derived from the counts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { HostState } from "../../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { HostRolloutSchema } from "../../../gen/nixfleet/ops/v1/host_rollout_pb.js";
import { HostTable } from "../../../src/ui/host-table.js";
import { deriveStatus, emptyCounts, STATES } from "../../../src/ui/states.js";

const record = (hostname: string, state: HostState) =>
  create(HostRolloutSchema, { rolloutId: "r@01", hostname, state });

describe("HostTable", () => {
  it("counts by state through inserts and replacements, and orders names naturally", () => {
    const table = new HostTable();
    for (const name of ["web-10", "web-2", "db-1"]) table.put(record(name, HostState.PENDING));
    assert.deepEqual(table.names(), ["db-1", "web-2", "web-10"]);
    const previous = table.put(record("web-2", HostState.ACTIVATING));
    assert.equal(previous?.state, HostState.PENDING);
    assert.equal(table.counts.Pending, 2);
    assert.equal(table.counts.Activating, 1);
    assert.equal(table.size, 3);
    table.clear();
    assert.equal(table.size, 0);
    assert.deepEqual(table.counts, emptyCounts());
    assert.deepEqual(table.names(), []);
  });
});

describe("deriveStatus", () => {
  const counts = (partial: Partial<ReturnType<typeof emptyCounts>>) => ({
    ...emptyCounts(),
    ...partial,
  });
  it("reads the rollout from its hosts", () => {
    assert.equal(deriveStatus(counts({})), "empty");
    assert.equal(deriveStatus(counts({ Pending: 3 })), "pending");
    assert.equal(deriveStatus(counts({ Pending: 2, Soaking: 1 })), "in progress");
    assert.equal(deriveStatus(counts({ Pending: 2, Failed: 1 })), "degraded");
    assert.equal(deriveStatus(counts({ Converged: 3 })), "converged");
    assert.equal(deriveStatus(counts({ Converged: 2, Failed: 1 })), "failed");
    assert.equal(deriveStatus(counts({ Converged: 2, Reverted: 1 })), "finished with reverts");
  });
  it("has one distinct color per state", () => {
    assert.equal(new Set(STATES.map((s) => s.color)).size, 7);
  });
});
