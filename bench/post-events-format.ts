// AgentEventsService/PostEvents over Connect binary, framed by hand with protobuf-es's wire
// writer from the contract's field numbers, so the bench can drive the RPC before (and without
// depending on) its generated code; and the per-event verdicts read back the same way.
import { toBinary } from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { AgentEventSchema } from "../gen/nixfleet/agent/v1/events_pb.js";
import type { BenchEvent } from "./event-sequence.js";
import type { EncodedRequest } from "./wire-format.js";

/** The RPC path of PostEvents. */
export const POST_EVENTS_RPC = "/nixfleet.agent.v1.AgentEventsService/PostEvents";

const HEADERS = Object.freeze({
  ":method": "POST",
  ":path": POST_EVENTS_RPC,
  "content-type": "application/proto",
  "connect-protocol-version": "1",
});

/**
 * PostEventsRequest{hostname = 1, events = 2 repeated BatchedEvent{rollout_id = 1, event = 2}}
 * for events of one host, in the order given (seq order per rollout).
 */
export function encodePostEvents(hostname: string, events: readonly BenchEvent[]): EncodedRequest {
  const writer = new BinaryWriter();
  writer.tag(1, WireType.LengthDelimited).string(hostname);
  for (const e of events) {
    const event = e.proto.event;
    if (event === undefined) throw new Error("a bench event without its AgentEvent");
    writer.tag(2, WireType.LengthDelimited).fork();
    writer.tag(1, WireType.LengthDelimited).string(e.proto.rolloutId);
    writer.tag(2, WireType.LengthDelimited).bytes(toBinary(AgentEventSchema, event));
    writer.join();
  }
  return { headers: HEADERS, body: Buffer.from(writer.finish()), events: events.length };
}

/** How many BatchedEvent entries (field 2) a PostEventsRequest holds. */
export function countBatchedEvents(body: Uint8Array): number {
  const reader = new BinaryReader(body);
  let n = 0;
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 2) n++;
    reader.skip(wireType);
  }
  return n;
}

/** Per-event verdicts of one PostEvents answer. */
export interface BatchVerdicts {
  ok: number;
  duplicate: number;
  error: number;
}

/**
 * Reads PostEventsResponse{verdicts = 1 repeated EventVerdict{accepted = 1 PostEventResponse |
 * error = 2}}: accepted APPLIED is ok, accepted DUPLICATE a duplicate, anything else an error.
 * Undefined when the body is not such a message.
 */
export function readBatchVerdicts(body: Uint8Array): BatchVerdicts | undefined {
  const counts: BatchVerdicts = { ok: 0, duplicate: 0, error: 0 };
  try {
    const reader = new BinaryReader(body);
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (field !== 1 || wireType !== WireType.LengthDelimited) {
        reader.skip(wireType);
        continue;
      }
      const verdict = new BinaryReader(reader.bytes());
      let outcome = 0;
      let refused = false;
      while (verdict.pos < verdict.len) {
        const [vField, vType] = verdict.tag();
        if (vField === 1 && vType === WireType.LengthDelimited) {
          const accepted = new BinaryReader(verdict.bytes());
          while (accepted.pos < accepted.len) {
            const [aField, aType] = accepted.tag();
            if (aField === 1 && aType === WireType.Varint) outcome = accepted.int32();
            else accepted.skip(aType);
          }
        } else {
          if (vField === 2) refused = true;
          verdict.skip(vType);
        }
      }
      if (refused || (outcome !== 1 && outcome !== 2)) counts.error++;
      else if (outcome === 1) counts.ok++;
      else counts.duplicate++;
    }
  } catch {
    return undefined;
  }
  return counts;
}

/** The verdict on a whole PostEvents call (for the lane) and on each of its events. */
export function classifyBatch(
  status: number,
  body: Buffer | undefined,
  events: number,
): { call: "ok" | "shed" | "duplicate" | "error"; events: BatchVerdicts & { shed: number } } {
  if (status === 429 || status === 503) {
    return { call: "shed", events: { ok: 0, duplicate: 0, error: 0, shed: events } };
  }
  const read = status === 200 && body !== undefined ? readBatchVerdicts(body) : undefined;
  if (read === undefined) {
    return { call: "error", events: { ok: 0, duplicate: 0, error: events, shed: 0 } };
  }
  // A verdict missing for an event is an error of the service, counted as one.
  const missing = Math.max(0, events - read.ok - read.duplicate - read.error);
  const counts = { ...read, error: read.error + missing, shed: 0 };
  const call = counts.error > 0 ? "error" : counts.ok > 0 ? "ok" : "duplicate";
  return { call, events: counts };
}
