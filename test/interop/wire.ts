// Wire helpers of the interop suite: a PostEventRequest encoded by hand (no generated code on
// the client side) and a way to fill the ingest channel of a server with a slowed reducer.
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import {
  AgentEventsService,
  PostEventRequestSchema,
} from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { client, type TestPki, type TestServer } from "../e2e/harness.js";

export const POST_EVENT = "/nixfleet.agent.v1.AgentEventsService/PostEvent";

/** A protobuf field: a varint, or length-delimited bytes. */
function field(number: number, value: number | Buffer): Buffer {
  const varint = (n: number) => {
    const out: number[] = [];
    for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80);
    out.push(n);
    return Buffer.from(out);
  };
  if (typeof value === "number") return Buffer.concat([varint(number << 3), varint(value)]);
  return Buffer.concat([varint((number << 3) | 2), varint(value.length), value]);
}

/**
 * A serialized PostEventRequest, encoded by hand: a DispatchAck for seq 1, an
 * ActivationStarted for any other seq.
 */
export function postEventMessage(hostname: string, rolloutId: string, seq: number): Buffer {
  const kind =
    seq === 1
      ? field(2, Buffer.concat([field(1, Buffer.from("prev")), field(2, field(1, 1778894821))]))
      : field(
          3,
          Buffer.concat([
            field(1, field(1, 1778894821 + seq)),
            field(2, Buffer.from("systemd-run")),
          ]),
        );
  return Buffer.concat([
    field(1, Buffer.from(hostname)),
    field(2, Buffer.from(rolloutId)),
    field(3, Buffer.concat([field(1, seq), kind])),
  ]);
}

/** The same, length-prefixed as one gRPC message. */
export function postEventFrame(hostname: string, rolloutId: string, seq: number): Buffer {
  const message = postEventMessage(hostname, rolloutId, seq);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/**
 * Posts a first DispatchAck for each of `hosts` (not awaited) and waits until `queued` of them
 * wait in the channel: with a slowed reducer and `--channel-capacity` = `queued`, the server
 * then sheds every PostEvent at the door until the reducer moves on.
 */
export async function fillChannel(
  server: TestServer,
  pki: TestPki,
  rolloutId: string,
  hosts: readonly string[],
  queued: number,
): Promise<void> {
  for (const hostname of hosts) {
    void client(AgentEventsService, server.url, pki.ca, pki.agent(hostname))
      .postEvent(
        create(PostEventRequestSchema, {
          hostname,
          rolloutId,
          event: {
            seq: 1n,
            kind: {
              case: "dispatchAck",
              value: { currentClosureAtDispatch: "prev", receivedAt: { seconds: 1778894821n } },
            },
          },
        }),
      )
      .catch(() => {});
  }
  const depth = server.service.metrics.registry.getSingleMetric("nixfleet_cp_channel_depth");
  let seen = 0;
  for (let i = 0; i < 100 && seen < queued; i++) {
    await new Promise((r) => setTimeout(r, 20));
    seen = (await depth?.get())?.values[0]?.value ?? 0;
  }
  assert.equal(seen, queued, "the channel did not fill");
}
