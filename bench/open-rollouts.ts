// Opens the rollouts a phase drives, as an operator would: RolloutService/OpenRollout over
// mTLS with the operator certificate. Setup only, never timed, so connect-node's client is fine.
import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { HealthFailurePolicy } from "../gen/nixfleet/agent/v1/events_pb.js";
import {
  OpenRolloutRequestSchema,
  RolloutService,
} from "../gen/nixfleet/ops/v1/rollout_service_pb.js";
import type { PemPair } from "./bench-pki.js";
import { targetClosure } from "./event-sequence.js";

/** Allocates rollout ids that no earlier run (or phase) used: a random run tag plus a counter. */
export function createRolloutIds(channel = "bench"): () => string {
  const run = randomBytes(4).toString("hex");
  let n = 0;
  return () => `${channel}@${run}${(n++).toString(16).padStart(8, "0")}`;
}

/** Opens each rollout with `hosts` (soak 0, halt), a few requests at a time. */
export async function openRollouts(options: {
  port: number;
  ca: string;
  operator: PemPair;
  rolloutIds: readonly string[];
  hosts: readonly string[];
}): Promise<void> {
  const baseUrl = `https://localhost:${options.port}`;
  // Closed at the end: an operator connection left open per call adds up to the service's
  // per-peer bound over a long run, and then it resets the next one.
  const sessionManager = new Http2SessionManager(baseUrl, undefined, {
    ca: options.ca,
    cert: options.operator.cert,
    key: options.operator.key,
  });
  const transport = createConnectTransport({
    baseUrl,
    httpVersion: "2",
    useBinaryFormat: true,
    sessionManager,
  });
  const client = createClient(RolloutService, transport);
  const queue = [...options.rolloutIds];
  const worker = async () => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      const response = await client.openRollout(
        create(OpenRolloutRequestSchema, {
          rolloutId: id,
          onHealthFailure: HealthFailurePolicy.HALT,
          soakDuration: { seconds: 0n, nanos: 0 },
          hosts: options.hosts.map((hostname) => ({
            hostname,
            targetClosure: targetClosure(id, hostname),
          })),
        }),
      );
      if (!response.created) throw new Error(`rollout ${id} already existed`);
    }
  };
  try {
    await Promise.all([worker(), worker(), worker()]);
  } finally {
    sessionManager.abort();
  }
}
