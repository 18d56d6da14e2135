// Events for PostEvents tests, in both encodings: a host's seq-th event of a rollout is
// DispatchAck at seq 1 and ActivationStarted after it (legal again and again while Activating).
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { BatchedEventSchema } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";

/** The proto BatchedEvent of seq `seq` in `rolloutId`. */
export function batched(
  rolloutId: string,
  seq: number,
): MessageInitShape<typeof BatchedEventSchema> {
  const at = { seconds: 1778894821n + BigInt(seq) };
  return {
    rolloutId,
    event: {
      seq: BigInt(seq),
      kind:
        seq === 1
          ? { case: "dispatchAck", value: { currentClosureAtDispatch: "prev", receivedAt: at } }
          : { case: "activationStarted", value: { startedAt: at, switchMethod: "systemd-run" } },
    },
  };
}

/** The binding entry (SPEC §3.2 event shape) of seq `seq` in `rolloutId`. */
export function batchedJson(rolloutId: string, seq: number): Record<string, unknown> {
  const at = new Date(Date.UTC(2026, 4, 16, 1, 27, 0) + seq * 1000).toISOString();
  const event =
    seq === 1
      ? { kind: "DispatchAck", currentClosureAtDispatch: "prev", receivedAt: at, seq }
      : { kind: "ActivationStarted", startedAt: at, switchMethod: "systemd-run", seq };
  return { rolloutId, event };
}
