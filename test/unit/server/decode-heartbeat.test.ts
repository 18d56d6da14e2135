// The heartbeat's two encodings at the edge (SPEC §8): the original agent's snake_case body and
// the proto message read to the same domain Heartbeat; errors name the field as sent.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { HeartbeatRequestSchema } from "../../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { parseInstant } from "../../../src/core/instant.js";
import { openRecords } from "../../../src/core/open-rollout.js";
import {
  decodeHeartbeatJson,
  decodeHeartbeatProto,
} from "../../../src/server/convert/decode-heartbeat.js";
import {
  bootstrapJson,
  heartbeatBindingReply,
} from "../../../src/server/convert/encode-heartbeat.js";

const AT = parseInstant("2026-05-16T01:40:00Z")!;

describe("decodeHeartbeatJson", () => {
  test("reads both of SPEC §8's bodies, ignoring unknown keys", () => {
    assert.deepEqual(
      decodeHeartbeatJson(
        JSON.parse(
          '{"hostname":"web-01","current_closure":"def456-nixos-system-web-01","at":"2026-05-16T01:40:00Z","agent_version":"1.2"}',
        ),
      ),
      {
        ok: true,
        value: {
          heartbeat: {
            hostname: "web-01",
            rolloutId: null,
            currentClosure: "def456-nixos-system-web-01",
            at: AT,
          },
          atText: "2026-05-16T01:40:00Z",
        },
      },
    );
    const named = decodeHeartbeatJson({
      hostname: "web-01",
      rollout_id: "stable@3f2a9c1e",
      current_closure: null,
      at: "2026-05-16T03:40:00+02:00",
    });
    assert.ok(named.ok);
    assert.equal(named.value.heartbeat.rolloutId, "stable@3f2a9c1e");
    assert.equal(named.value.heartbeat.currentClosure, null);
    assert.equal(named.value.heartbeat.at, AT);
    assert.equal(named.value.atText, "2026-05-16T03:40:00+02:00");
  });

  test("empty rollout_id or current_closure mean none", () => {
    const r = decodeHeartbeatJson({
      hostname: "h",
      rollout_id: "",
      current_closure: "",
      at: "2026-05-16T01:40:00Z",
    });
    assert.ok(r.ok);
    assert.equal(r.value.heartbeat.rolloutId, null);
    assert.equal(r.value.heartbeat.currentClosure, null);
  });

  for (const [body, field] of [
    [[], "body"],
    [{ at: "2026-05-16T01:40:00Z" }, "hostname"],
    [{ hostname: "bad host", at: "2026-05-16T01:40:00Z" }, "hostname"],
    [{ hostname: "h" }, "at"],
    [{ hostname: "h", at: 5 }, "at"],
    [{ hostname: "h", at: "2026-13-01T00:00:00Z" }, "at"],
    [{ hostname: "h", rollout_id: "Stable@XY", at: "2026-05-16T01:40:00Z" }, "rollout_id"],
    [{ hostname: "h", current_closure: ["x"], at: "2026-05-16T01:40:00Z" }, "current_closure"],
  ] as const) {
    test(`${JSON.stringify(body)} ⇒ invalid ${field}`, () => {
      const r = decodeHeartbeatJson(body);
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.error.field, field);
    });
  }
});

describe("decodeHeartbeatProto", () => {
  test("reads the message; errors name proto-JSON paths", () => {
    const ok = decodeHeartbeatProto(
      create(HeartbeatRequestSchema, {
        hostname: "web-01",
        currentClosure: "c",
        at: { seconds: 1n },
      }),
    );
    assert.ok(ok.ok);
    assert.equal(ok.value.heartbeat.currentClosure, "c");
    assert.equal(ok.value.atText, undefined);
    const bad = decodeHeartbeatProto(
      create(HeartbeatRequestSchema, {
        hostname: "web-01",
        rolloutId: "nope",
        at: { seconds: 1n },
      }),
    );
    assert.equal(!bad.ok && bad.error.field, "rolloutId");
    const noAt = decodeHeartbeatProto(create(HeartbeatRequestSchema, { hostname: "web-01" }));
    assert.equal(!noAt.ok && noAt.error.field, "at");
  });
});

describe("the binding's reply", () => {
  const [record] = openRecords(
    {
      rolloutId: "stable@3f2a9c1e",
      channel: "stable",
      soakDurationSecs: 60,
      hosts: [{ hostname: "web-01", targetClosure: "t" }],
    },
    AT,
  );
  test("snapshots use camelCase keys and omit unset optional ones", () => {
    assert.deepEqual(Object.keys(bootstrapJson(record!)), [
      "rolloutId",
      "hostname",
      "channel",
      "state",
      "targetClosure",
      "dispatchedAt",
      "soakDueAt",
      "lastEventSeq",
    ]);
  });
  test("received_at echoes at as sent; bootstrap_rollouts omitted when empty; replay header", () => {
    const reply = heartbeatBindingReply({
      at: AT,
      atText: "2026-05-16T03:40:00+02:00",
      bootstrap: [],
      replayFrom: 7,
    });
    assert.deepEqual(JSON.parse(reply.body), { received_at: "2026-05-16T03:40:00+02:00" });
    assert.equal(reply.headers["x-nixfleet-replay-from"], "7");
    const plain = heartbeatBindingReply({
      at: AT,
      atText: undefined,
      bootstrap: [record!],
      replayFrom: null,
    });
    assert.equal(plain.headers["x-nixfleet-replay-from"], undefined);
    assert.equal(JSON.parse(plain.body).bootstrap_rollouts.length, 1);
  });
});
