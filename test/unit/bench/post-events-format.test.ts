// The bench frames PostEvents by hand from the contract's field numbers (before the generated
// code exists): the request must carry each event as the AgentEvent the service decodes, and
// the per-event verdicts must be counted from a response built with the real PostEventResponse.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { laneEvents } from "../../../bench/event-sequence.js";
import {
  classifyBatch,
  encodePostEvents,
  readBatchVerdicts,
} from "../../../bench/post-events-format.js";
import {
  Outcome,
  PostEventResponseSchema,
} from "../../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { AgentEventSchema } from "../../../gen/nixfleet/agent/v1/events_pb.js";

function response(verdicts: readonly (Outcome | "error")[]): Buffer {
  const writer = new BinaryWriter();
  for (const v of verdicts) {
    writer.tag(1, WireType.LengthDelimited).fork();
    if (v === "error") {
      writer.tag(2, WireType.LengthDelimited).fork();
      writer.tag(1, WireType.LengthDelimited).string("failed_precondition");
      writer.join();
    } else {
      const accepted = create(PostEventResponseSchema, { outcome: v, lastEventSeq: 3n });
      writer.tag(1, WireType.LengthDelimited).bytes(toBinary(PostEventResponseSchema, accepted));
    }
    writer.join();
  }
  return Buffer.from(writer.finish());
}

describe("bench PostEvents framing", () => {
  test("hostname = 1, then one BatchedEvent{rollout_id = 1, event = 2} per event, in order", () => {
    const events = [
      ...laneEvents("h1", "bench@aa", 0, 1),
      ...laneEvents("h1", "bench@bb", 0, 1),
    ].slice(0, 10);
    const request = encodePostEvents("h1", events);
    assert.equal(request.events, 10);
    const reader = new BinaryReader(request.body);
    assert.deepEqual(reader.tag(), [1, WireType.LengthDelimited]);
    assert.equal(reader.string(), "h1");
    const seen: string[] = [];
    while (reader.pos < reader.len) {
      assert.deepEqual(reader.tag(), [2, WireType.LengthDelimited]);
      const batched = new BinaryReader(reader.bytes());
      assert.deepEqual(batched.tag(), [1, WireType.LengthDelimited]);
      const rolloutId = batched.string();
      assert.deepEqual(batched.tag(), [2, WireType.LengthDelimited]);
      const event = fromBinary(AgentEventSchema, batched.bytes());
      seen.push(`${rolloutId}#${event.seq}:${event.kind.case}`);
    }
    assert.deepEqual(
      seen,
      events.map((e) => `${e.proto.rolloutId}#${e.proto.event?.seq}:${e.proto.event?.kind.case}`),
    );
  });

  test("verdicts are counted per event: applied, duplicate, refused", () => {
    const body = response([Outcome.APPLIED, Outcome.DUPLICATE, "error", Outcome.APPLIED]);
    assert.deepEqual(readBatchVerdicts(body), { ok: 2, duplicate: 1, error: 1 });
    assert.equal(classifyBatch(200, body, 4).call, "error");
    const clean = response([Outcome.APPLIED, Outcome.APPLIED]);
    assert.deepEqual(classifyBatch(200, clean, 2), {
      call: "ok",
      events: { ok: 2, duplicate: 0, error: 0, shed: 0 },
    });
  });

  test("a missing verdict is an error; backpressure sheds every event of the call", () => {
    assert.deepEqual(classifyBatch(200, response([Outcome.APPLIED]), 3).events, {
      ok: 1,
      duplicate: 0,
      error: 2,
      shed: 0,
    });
    assert.deepEqual(classifyBatch(429, undefined, 32), {
      call: "shed",
      events: { ok: 0, duplicate: 0, error: 0, shed: 32 },
    });
  });
});
