// `nixfleet-cp hosts list`: every host's liveness from its heartbeats, as a table with the
// counts, or as the proto-JSON hosts for scripts.
import { toJson } from "@bufbuild/protobuf";
import { type Host, HostSchema, Reachability } from "../../gen/nixfleet/ops/v1/host_service_pb.js";
import { parseCommandArgs } from "./args.js";
import { HOSTS_LIST_FLAGS } from "./flags.js";
import { formatTime, table } from "./format.js";
import { hostClient, operatorTarget, rpc } from "./operator-client.js";
import { UsageError } from "./usage.js";

const COMMAND = "hosts list";
const PAGE_SIZE = 1000;

/** `hosts list [--reachable | --unreachable]`. */
export async function hostsListCommand(argv: readonly string[]): Promise<void> {
  const args = parseCommandArgs(COMMAND, argv, HOSTS_LIST_FLAGS);
  if (args.flag("reachable") && args.flag("unreachable")) {
    throw new UsageError("--reachable and --unreachable exclude each other", COMMAND);
  }
  const reachability = args.flag("reachable")
    ? Reachability.REACHABLE
    : args.flag("unreachable")
      ? Reachability.UNREACHABLE
      : Reachability.UNSPECIFIED;
  const target = operatorTarget(COMMAND, args);
  const client = hostClient(target);
  const hosts: Host[] = [];
  let pageToken = "";
  let intervalSeconds = 0;
  do {
    const page = await rpc(target, () =>
      client.listHosts({ reachability, pageSize: PAGE_SIZE, pageToken }),
    );
    hosts.push(...page.hosts);
    pageToken = page.nextPageToken;
    const interval = page.heartbeatInterval;
    intervalSeconds = interval ? Number(interval.seconds) + interval.nanos / 1e9 : 0;
  } while (pageToken !== "");
  if (target.json) {
    const json = hosts.map((h) => toJson(HostSchema, h, { alwaysEmitImplicit: true }));
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    return;
  }
  const rows = table(
    ["HOST", "REACHABLE", "LAST HEARTBEAT", "RECEIVED", "CLOSURE"],
    hosts.map((h) => [
      h.hostname,
      h.reachable ? "yes" : "no",
      formatTime(h.lastHeartbeatAt),
      formatTime(h.lastHeartbeatReceivedAt),
      h.currentClosure ?? "-",
    ]),
  );
  const unreachable = hosts.filter((h) => !h.reachable).length;
  const summary = `${hosts.length} host${hosts.length === 1 ? "" : "s"}, ${unreachable} unreachable (heartbeat interval ${intervalSeconds}s; unreachable after 3 missed)`;
  process.stdout.write(`${[...rows, "", summary].join("\n")}\n`);
}
