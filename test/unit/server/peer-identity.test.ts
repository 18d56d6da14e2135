// The CN rules of SPEC §2: the machine-id table verbatim, and operator classification.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { classifyCommonName, machineIdFromCommonName } from "../../../src/server/peer-identity.js";

describe("machineIdFromCommonName (SPEC §2 table, suffix fleet.lab.internal)", () => {
  const table: [string, string][] = [
    ["agent-krach.fleet.lab.internal", "krach"],
    ["agent-machine-with-dashes.fleet.lab.internal", "machine-with-dashes"],
    ["krach", "krach"],
    ["agent-krach.other.example", "agent-krach.other.example"],
    ["Agent-krach.fleet.lab.internal", "Agent-krach.fleet.lab.internal"],
    ["agent-a.b.fleet.lab.internal", "a.b"],
    ["agent-.fleet.lab.internal", ""],
  ];
  for (const [cn, id] of table) {
    test(`${cn} → "${id}"`, () =>
      assert.equal(machineIdFromCommonName(cn, "fleet.lab.internal"), id));
  }
  test("the suffix must follow a dot and match case-sensitively", () => {
    assert.equal(
      machineIdFromCommonName("agent-krachfleet.lab.internal", "fleet.lab.internal"),
      "agent-krachfleet.lab.internal",
    );
    assert.equal(
      machineIdFromCommonName("agent-krach.FLEET.lab.internal", "fleet.lab.internal"),
      "agent-krach.FLEET.lab.internal",
    );
  });
});

describe("classifyCommonName", () => {
  const config = { agentCnSuffix: "fleet.lab.internal", operatorCns: ["ci-bot"] };
  test("operator-<name>.<suffix> and allow-listed CNs are operators", () => {
    assert.deepEqual(classifyCommonName("operator-alice.fleet.lab.internal", config), {
      kind: "operator",
      name: "alice",
    });
    assert.deepEqual(classifyCommonName("ci-bot", config), { kind: "operator", name: "ci-bot" });
  });
  test("everything else is an agent, by the machine-id rule", () => {
    assert.deepEqual(classifyCommonName("agent-web-01.fleet.lab.internal", config), {
      kind: "agent",
      machineId: "web-01",
    });
    assert.deepEqual(classifyCommonName("operator-.fleet.lab.internal", config), {
      kind: "agent",
      machineId: "operator-.fleet.lab.internal",
    });
    assert.deepEqual(classifyCommonName("operator-alice.other.example", config), {
      kind: "agent",
      machineId: "operator-alice.other.example",
    });
  });
});
