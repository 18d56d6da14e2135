// Walks the generated descriptors and checks what the contract promises: fixed names, agent
// timestamps on every event kind, the HTTP rule, and proto-JSON names equal to SPEC §3.2's.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type DescMessage, fromJson, getOption, type JsonObject, toJson } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.js";
import {
  AgentEventsService,
  HeartbeatRequestSchema,
  HeartbeatResponseSchema,
  PostEventRequestSchema,
  PostEventResponseSchema,
} from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { AgentEventSchema } from "../../gen/nixfleet/agent/v1/events_pb.js";
import { HostService } from "../../gen/nixfleet/ops/v1/host_service_pb.js";
import { RolloutService } from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { bindingToProtoJson } from "../fixtures/proto-json.js";
import { SPEC_EXAMPLES } from "../fixtures/spec-examples.js";

describe("contract names", () => {
  test("services and RPCs have their fixed fully-qualified names", () => {
    assert.equal(AgentEventsService.typeName, "nixfleet.agent.v1.AgentEventsService");
    assert.deepEqual(
      AgentEventsService.methods.map((m) => m.name),
      ["PostEvent", "PostEvents", "Heartbeat"],
    );
    assert.equal(HostService.typeName, "nixfleet.ops.v1.HostService");
    assert.deepEqual(
      HostService.methods.map((m) => [m.name, m.methodKind]),
      [
        ["ListHosts", "unary"],
        ["WatchHosts", "server_streaming"],
      ],
    );
    assert.equal(RolloutService.typeName, "nixfleet.ops.v1.RolloutService");
    assert.deepEqual(
      RolloutService.methods.map((m) => [m.name, m.methodKind]),
      [
        ["OpenRollout", "unary"],
        ["GetHostRollout", "unary"],
        ["ListHostRollouts", "unary"],
        ["ListEvents", "unary"],
        ["WatchRollout", "server_streaming"],
        ["ListRefusedEvents", "unary"],
        ["ListQuarantinedClosures", "unary"],
        ["ListProbeFailures", "unary"],
        ["GetRollout", "unary"],
        ["ListRollouts", "unary"],
      ],
    );
  });

  test("PostEventRequest and PostEventResponse carry the fixed fields", () => {
    const fields = (d: DescMessage) => d.fields.map((f) => [f.name, f.number, f.fieldKind]);
    assert.deepEqual(fields(PostEventRequestSchema), [
      ["hostname", 1, "scalar"],
      ["rollout_id", 2, "scalar"],
      ["event", 3, "message"],
      ["signature", 4, "scalar"],
    ]);
    assert.deepEqual(fields(PostEventResponseSchema), [
      ["outcome", 1, "enum"],
      ["state", 2, "enum"],
      ["last_event_seq", 3, "scalar"],
      ["seq_gap", 10, "scalar"],
      ["missing_seq_count", 11, "scalar"],
      ["missing_seqs", 12, "list"],
    ]);
  });

  test("PostEvent is bound to POST /v1/agent/events with body *", () => {
    const method = AgentEventsService.method.postEvent;
    const rule = getOption(method, http);
    assert.equal(rule.pattern.case, "post");
    assert.equal(rule.pattern.value, "/v1/agent/events");
    assert.equal(rule.body, "*");
  });
});

describe("Heartbeat (SPEC §8)", () => {
  test("is bound to POST /v1/agent/heartbeat with body *", () => {
    const rule = getOption(AgentEventsService.method.heartbeat, http);
    assert.equal(rule.pattern.case, "post");
    assert.equal(rule.pattern.value, "/v1/agent/heartbeat");
    assert.equal(rule.body, "*");
  });

  test("the original agent's snake_case body is a valid HeartbeatRequest in proto-JSON", () => {
    for (const body of [
      '{"hostname":"web-01","current_closure":"def456-nixos-system-web-01","at":"2026-05-16T01:40:00Z"}',
      '{"hostname":"web-01","rollout_id":"stable@3f2a9c1e","current_closure":"def456-nixos-system-web-01","at":"2026-05-16T01:40:00Z"}',
    ]) {
      const message = fromJson(HeartbeatRequestSchema, JSON.parse(body) as JsonObject);
      assert.equal(message.hostname, "web-01");
      assert.equal(message.currentClosure, "def456-nixos-system-web-01");
      assert.equal(message.at?.seconds, BigInt(Date.parse("2026-05-16T01:40:00Z") / 1000));
    }
  });

  test("the response's fields are those of SPEC §8", () => {
    assert.deepEqual(
      HeartbeatResponseSchema.fields.map((f) => [f.name, f.number]),
      [
        ["received_at", 1],
        ["bootstrap_rollouts", 2],
        ["replay_from", 3],
      ],
    );
  });
});

describe("AgentEvent oneof", () => {
  const oneof = AgentEventSchema.oneofs.find((o) => o.name === "kind");
  assert.ok(oneof);
  test("has twelve kinds numbered 2..13 after seq = 1", () => {
    assert.equal(AgentEventSchema.field.seq?.number, 1);
    assert.deepEqual(
      oneof.fields.map((f) => f.number),
      [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
    );
  });
  for (const field of oneof.fields) {
    test(`${field.name} carries an agent google.protobuf.Timestamp`, () => {
      assert.equal(field.fieldKind, "message");
      const msg = field.message;
      assert.ok(msg);
      assert.ok(
        msg.fields.some(
          (f) => f.fieldKind === "message" && f.message.typeName === "google.protobuf.Timestamp",
        ),
        `${msg.typeName} has no Timestamp field`,
      );
    });
  }
});

function withoutZeroScalars(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutZeroScalars);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== 0 && v !== "" && v !== false)
        .map(([k, v]) => [k, withoutZeroScalars(v)]),
    );
  }
  return value;
}

describe("proto-JSON of every kind uses the camelCase names of SPEC §3.2", () => {
  for (const example of SPEC_EXAMPLES) {
    test(`${example.kind} (seq ${JSON.parse(example.body).event.seq})`, () => {
      const { event } = JSON.parse(example.body);
      const { kind, seq, ...fields } = event;
      const caseName = kind.charAt(0).toLowerCase() + kind.slice(1);
      const protoJson = {
        seq: String(seq),
        [caseName]: bindingToProtoJson(fields),
      } as JsonObject;
      const message = fromJson(AgentEventSchema, protoJson);
      assert.equal(message.kind.case, caseName);
      // Round trip: nothing lost, nothing renamed (proto3 omits zero scalars such as exitCode 0).
      assert.deepEqual(toJson(AgentEventSchema, message), withoutZeroScalars(protoJson));
    });
  }
});
