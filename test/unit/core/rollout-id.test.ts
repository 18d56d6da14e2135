// The canonical rollout id form `<channel>@<channel_ref>` (SPEC §3.2).
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRolloutId } from "../../../src/core/index.js";

test("canonical ids split into channel and ref", () => {
  assert.deepEqual(parseRolloutId("stable@3f2a9c1e"), { channel: "stable", ref: "3f2a9c1e" });
  assert.deepEqual(parseRolloutId("edge_2-eu@0"), { channel: "edge_2-eu", ref: "0" });
  assert.deepEqual(parseRolloutId("-@abcdef0123456789"), { channel: "-", ref: "abcdef0123456789" });
});

test("anything else is refused", () => {
  for (const id of [
    "",
    "@",
    "stable",
    "stable@",
    "@3f2a",
    "stable@@3f2a",
    "sta@ble@3f2a",
    "Stable@3f2a",
    "stable@3F2A",
    "stable@3f2g",
    "sta ble@3f2a",
    "stable@3f2a ",
    " stable@3f2a",
    "stable@3f2a\n",
    "st.able@3f2a",
    "stäble@3f2a",
  ]) {
    assert.equal(parseRolloutId(id), undefined, JSON.stringify(id));
  }
});
