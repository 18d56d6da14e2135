// How the driver frames a PostEvent on each protocol, and how it reads the answer: done by
// hand on node:http2 so that a request costs the driver a few microseconds, not a client stack.
import type { OutgoingHttpHeaders } from "node:http2";
import { toBinary, toJson } from "@bufbuild/protobuf";
import { PostEventRequestSchema } from "../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import type { BenchEvent } from "./event-sequence.js";

/** The four surfaces the bench drives. */
export type Protocol = "connect-binary" | "connect-json" | "grpc" | "http-json";

/** Every protocol, in table order. */
export const PROTOCOLS: readonly Protocol[] = [
  "connect-binary",
  "connect-json",
  "grpc",
  "http-json",
];

/** The RPC path of PostEvent and the binding's path (SPEC §3.2). */
export const POST_EVENT_RPC = "/nixfleet.agent.v1.AgentEventsService/PostEvent";
export const BINDING_PATH = "/v1/agent/events";

/** A request ready to write: shared headers and its own body. */
export interface EncodedRequest {
  readonly headers: OutgoingHttpHeaders;
  readonly body: Buffer;
  /** Events the request carries: 1 unless it is a PostEvents batch. */
  readonly events?: number;
  /** "rollout/host/seq" of a single event, for runs that check what was acknowledged. */
  readonly key?: string;
}

// One frozen header object per protocol: node:http2 copies headers, so sharing them is safe
// and saves building an object per request.
const HEADERS: Record<Protocol, OutgoingHttpHeaders> = {
  "connect-binary": Object.freeze({
    ":method": "POST",
    ":path": POST_EVENT_RPC,
    "content-type": "application/proto",
    "connect-protocol-version": "1",
  }),
  "connect-json": Object.freeze({
    ":method": "POST",
    ":path": POST_EVENT_RPC,
    "content-type": "application/json",
    "connect-protocol-version": "1",
  }),
  grpc: Object.freeze({
    ":method": "POST",
    ":path": POST_EVENT_RPC,
    "content-type": "application/grpc",
    te: "trailers",
  }),
  "http-json": Object.freeze({
    ":method": "POST",
    ":path": BINDING_PATH,
    "content-type": "application/json",
  }),
};

/** "rollout/host/seq": how the exactly-once check names an event. */
export function eventKey(event: BenchEvent): string {
  const seq = event.proto.event?.seq ?? 0n;
  return `${event.proto.rolloutId}/${event.proto.hostname}/${seq}`;
}

/** Encodes one event for `protocol`. */
export function encodeRequest(event: BenchEvent, protocol: Protocol): EncodedRequest {
  const headers = HEADERS[protocol];
  switch (protocol) {
    case "connect-binary":
      return {
        headers,
        body: Buffer.from(toBinary(PostEventRequestSchema, event.proto)),
        key: eventKey(event),
      };
    case "connect-json":
      return {
        headers,
        body: Buffer.from(JSON.stringify(toJson(PostEventRequestSchema, event.proto))),
      };
    case "grpc": {
      const message = toBinary(PostEventRequestSchema, event.proto);
      const body = Buffer.allocUnsafe(5 + message.length);
      body[0] = 0; // not compressed
      body.writeUInt32BE(message.length, 1);
      body.set(message, 5);
      return { headers, body };
    }
    case "http-json":
      return { headers, body: Buffer.from(JSON.stringify(event.binding)) };
  }
}

/** The heartbeat binding's path (SPEC §8). */
export const HEARTBEAT_PATH = "/v1/agent/heartbeat";

const HEARTBEAT_HEADERS: OutgoingHttpHeaders = Object.freeze({
  ":method": "POST",
  ":path": HEARTBEAT_PATH,
  "content-type": "application/json",
});

/** The original agent's heartbeat body for `host` (no rollout_id, as real agents send it). */
export function encodeHeartbeat(host: string, closure: string): EncodedRequest {
  const at = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  return {
    headers: HEARTBEAT_HEADERS,
    body: Buffer.from(`{"hostname":"${host}","current_closure":"${closure}","at":"${at}"}`),
  };
}

/** How the driver counts an answer. */
export type Verdict = "ok" | "shed" | "duplicate" | "error";

/** What the driver saw of one response. */
export interface ResponseView {
  readonly status: number;
  /** grpc-status from trailers (or headers, for a trailers-only answer); -1 when absent. */
  readonly grpcStatus: number;
  /** The first DATA chunk, if any. */
  readonly firstChunk: Buffer | undefined;
}

const APPLIED_JSON = Buffer.from('"OUTCOME_APPLIED"');
const DUPLICATE_JSON = Buffer.from('"OUTCOME_DUPLICATE"');

// PostEventResponse starts with field 1 (outcome, varint) unless the outcome is 0: 0x08 0x01
// is APPLIED and 0x08 0x02 DUPLICATE, so two bytes tell the verdict without decoding.
function protoVerdict(bytes: Buffer | undefined, offset: number): Verdict {
  if (bytes === undefined || bytes.length < offset + 2 || bytes[offset] !== 0x08) return "error";
  const outcome = bytes[offset + 1];
  return outcome === 1 ? "ok" : outcome === 2 ? "duplicate" : "error";
}

/**
 * The verdict on a response. Backpressure is resource_exhausted (Connect 429, gRPC 8) or
 * unavailable (Connect and the binding 503, gRPC 14): both tell the agent to retry later.
 */
export function classify(protocol: Protocol | "heartbeat", r: ResponseView): Verdict {
  switch (protocol) {
    case "heartbeat":
      if (r.status === 200) return "ok";
      return r.status === 503 || r.status === 429 ? "shed" : "error";
    case "connect-binary":
      if (r.status === 200) return protoVerdict(r.firstChunk, 0);
      return r.status === 429 || r.status === 503 ? "shed" : "error";
    case "connect-json":
      if (r.status === 200) {
        const body = r.firstChunk;
        if (body === undefined) return "error";
        if (body.includes(APPLIED_JSON)) return "ok";
        return body.includes(DUPLICATE_JSON) ? "duplicate" : "error";
      }
      return r.status === 429 || r.status === 503 ? "shed" : "error";
    case "grpc":
      if (r.status !== 200) return "error";
      if (r.grpcStatus === 0) return protoVerdict(r.firstChunk, 5);
      return r.grpcStatus === 8 || r.grpcStatus === 14 ? "shed" : "error";
    case "http-json":
      if (r.status === 204) return "ok";
      return r.status === 503 || r.status === 429 ? "shed" : "error";
  }
}
