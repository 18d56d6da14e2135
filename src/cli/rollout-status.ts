// `nixfleet-cp rollout status`: where every host of a rollout stands, as a table with a
// counts-by-state summary, or as the proto-JSON records for scripts.
import { toJson } from "@bufbuild/protobuf";
import { type HostRollout, HostRolloutSchema } from "../../gen/nixfleet/ops/v1/host_rollout_pb.js";
import { parseCommandArgs } from "./args.js";
import { ROLLOUT_STATUS_FLAGS } from "./flags.js";
import { statusTable, summaryLine } from "./format.js";
import { CommandError, operatorTarget, rolloutClient, rpc } from "./operator-client.js";
import { statusName } from "./operator-views.js";

const COMMAND = "rollout status";
const PAGE_SIZE = 1000;

/** `rollout status <rolloutId>`. */
export async function rolloutStatusCommand(argv: readonly string[]): Promise<void> {
  const args = parseCommandArgs(COMMAND, argv, ROLLOUT_STATUS_FLAGS, ["rolloutId"]);
  const rolloutId = args.positionals[0] as string;
  const target = operatorTarget(COMMAND, args);
  const client = rolloutClient(target);
  const records: HostRollout[] = [];
  let pageToken = "";
  do {
    const page = await rpc(target, () =>
      client.listHostRollouts({ rolloutId, pageSize: PAGE_SIZE, pageToken }),
    );
    records.push(...page.hostRollouts);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  // Every opened rollout has at least one host, so no records means no such rollout.
  if (records.length === 0) throw new CommandError(`no rollout "${rolloutId}" (no host records)`);
  if (target.json) {
    const json = records.map((r) => toJson(HostRolloutSchema, r, { alwaysEmitImplicit: true }));
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    return;
  }
  const { rollout } = await rpc(target, () => client.getRollout({ rolloutId }));
  const status = rollout === undefined ? "unknown" : statusName(rollout.status);
  process.stdout.write(
    `${[...statusTable(records), "", summaryLine(records), `status: ${status}`].join("\n")}\n`,
  );
}
