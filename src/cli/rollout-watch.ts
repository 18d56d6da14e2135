// `nixfleet-cp rollout watch`: the rollout's current table, then one line per host state
// change as it commits, until Ctrl-C or the server ends the stream (both exit 0).
import { toJson } from "@bufbuild/protobuf";
import type { HostRollout } from "../../gen/nixfleet/ops/v1/host_rollout_pb.js";
import {
  type HostStateChange,
  WatchRolloutResponseSchema,
} from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { parseCommandArgs } from "./args.js";
import { ROLLOUT_WATCH_FLAGS } from "./flags.js";
import { formatTime, stateName, statusTable, summaryLine } from "./format.js";
import { describeRpcError, operatorTarget, rolloutClient } from "./operator-client.js";

const COMMAND = "rollout watch";

/** `rollout watch <rolloutId>`. */
export async function rolloutWatchCommand(argv: readonly string[]): Promise<void> {
  const args = parseCommandArgs(COMMAND, argv, ROLLOUT_WATCH_FLAGS, ["rolloutId"]);
  const rolloutId = args.positionals[0] as string;
  const target = operatorTarget(COMMAND, args);
  const client = rolloutClient(target);
  const stop = new AbortController();
  // Interrupting a watch is how it normally ends, so it is a success, not a failure.
  const onSignal = () => stop.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const snapshot: HostRollout[] = [];
  const write = (line: string) => process.stdout.write(`${line}\n`);
  try {
    for await (const message of client.watchRollout({ rolloutId }, { signal: stop.signal })) {
      if (target.json) {
        write(
          JSON.stringify(toJson(WatchRolloutResponseSchema, message, { alwaysEmitImplicit: true })),
        );
        continue;
      }
      const update = message.update;
      switch (update.case) {
        case "snapshot":
          snapshot.push(update.value);
          break;
        case "snapshotComplete":
          write([...statusTable(snapshot), "", summaryLine(snapshot), ""].join("\n"));
          process.stderr.write(`watching ${rolloutId} (Ctrl-C to stop)\n`);
          break;
        case "change":
          write(changeLine(update.value));
          break;
      }
    }
    if (!stop.signal.aborted) process.stderr.write(`the server ended the watch of ${rolloutId}\n`);
  } catch (error) {
    if (!stop.signal.aborted) throw await describeRpcError(error, target);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** E.g. `2026-05-16T01:27:05Z web-01 Activating -> Soaking seq 3`. */
export function changeLine(change: HostStateChange): string {
  const seq = change.hostRollout?.lastEventSeq.toString() ?? "?";
  return `${formatTime(change.at)} ${change.hostname} ${stateName(change.from)} -> ${stateName(change.to)} seq ${seq}`;
}
