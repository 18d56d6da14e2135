// The operator-view commands: `refusals list`, `quarantines list`, `probe-failures list` and
// `rollout list`, each paging through its RolloutService RPC and printing a table (or one
// proto-JSON object per line with --json).
import { type DescMessage, type MessageShape, toJsonString } from "@bufbuild/protobuf";
import {
  ProbeFailureSchema,
  QuarantinedClosureSchema,
  RefusedEventSchema,
  RolloutStatus,
  type RolloutSummary,
  RolloutSummarySchema,
} from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { ROLLOUT_STATUSES } from "../core/rollout-status.js";
import { integerFlag, parseCommandArgs } from "./args.js";
import {
  PROBE_FAILURES_LIST_FLAGS,
  QUARANTINES_LIST_FLAGS,
  REFUSALS_LIST_FLAGS,
  ROLLOUT_LIST_FLAGS,
} from "./flags.js";
import { formatTime, stateName, table } from "./format.js";
import { type OperatorTarget, operatorTarget, rolloutClient, rpc } from "./operator-client.js";

const PAGE_SIZE = 1000;

/** Pages through a list RPC until `limit` items (or all) are read. */
async function collect<T>(
  target: OperatorTarget,
  limit: number | undefined,
  fetch: (pageToken: string, pageSize: number) => Promise<{ items: T[]; next: string }>,
): Promise<T[]> {
  const items: T[] = [];
  let token = "";
  do {
    const want = limit === undefined ? PAGE_SIZE : Math.min(PAGE_SIZE, limit - items.length);
    const page = await rpc(target, () => fetch(token, want));
    items.push(...page.items);
    token = page.next;
  } while (token !== "" && (limit === undefined || items.length < limit));
  return items;
}

function print<D extends DescMessage>(
  target: OperatorTarget,
  schema: D,
  items: readonly MessageShape<D>[],
  empty: string,
  header: readonly string[],
  row: (item: MessageShape<D>) => string[],
): void {
  if (target.json) {
    for (const item of items) process.stdout.write(`${toJsonString(schema, item)}\n`);
    return;
  }
  if (items.length === 0) {
    process.stdout.write(`${empty}\n`);
    return;
  }
  process.stdout.write(`${table(header, items.map(row)).join("\n")}\n`);
}

/** The derived status's SPEC spelling, e.g. "halted-on-failure". */
export function statusName(status: RolloutStatus): string {
  return ROLLOUT_STATUSES[status - 1] ?? RolloutStatus[status] ?? String(status);
}

/** "3 hosts: 1 Pending, 2 Converged". */
export function countsLine(summary: RolloutSummary): string {
  const total = `${summary.hostCount} host${summary.hostCount === 1 ? "" : "s"}`;
  const parts = summary.hostCounts.map((c) => `${c.count} ${stateName(c.state)}`);
  return parts.length === 0 ? total : `${total}: ${parts.join(", ")}`;
}

function only(value: string | undefined): string {
  return value ?? "";
}

/** `refusals list`. */
export async function refusalsListCommand(argv: readonly string[]): Promise<void> {
  const command = "refusals list";
  const args = parseCommandArgs(command, argv, REFUSALS_LIST_FLAGS);
  const target = operatorTarget(command, args);
  const limit = integerFlag(command, "limit", args.string("limit"), 1);
  const client = rolloutClient(target);
  const items = await collect(target, limit, async (pageToken, pageSize) => {
    const res = await client.listRefusedEvents({
      rolloutId: only(args.string("rollout")),
      hostname: only(args.string("host")),
      reason: only(args.string("reason")),
      pageSize,
      pageToken,
    });
    return { items: res.refusedEvents, next: res.nextPageToken };
  });
  print(
    target,
    RefusedEventSchema,
    items,
    "no refused events match",
    ["ID", "LAST REFUSED", "COUNT", "HOST", "ROLLOUT", "SEQ", "KIND", "REASON", "MESSAGE"],
    (r) => [
      r.id.toString(),
      formatTime(r.lastRefusedAt),
      r.count.toString(),
      r.hostname,
      r.rolloutId,
      r.seq.toString(),
      r.kind,
      r.reason,
      r.message,
    ],
  );
}

/** `quarantines list`. */
export async function quarantinesListCommand(argv: readonly string[]): Promise<void> {
  const command = "quarantines list";
  const args = parseCommandArgs(command, argv, QUARANTINES_LIST_FLAGS);
  const target = operatorTarget(command, args);
  const client = rolloutClient(target);
  const items = await collect(target, undefined, async (pageToken, pageSize) => {
    const res = await client.listQuarantinedClosures({
      channel: only(args.string("channel")),
      pageSize,
      pageToken,
    });
    return { items: res.quarantinedClosures, next: res.nextPageToken };
  });
  print(
    target,
    QuarantinedClosureSchema,
    items,
    "no quarantined closures match",
    ["CHANNEL", "CLOSURE", "ROLLOUT", "HOST", "SINCE"],
    (q) => [q.channel, q.closure, q.rolloutId, q.hostname, formatTime(q.quarantinedAt)],
  );
}

/** `probe-failures list`. */
export async function probeFailuresListCommand(argv: readonly string[]): Promise<void> {
  const command = "probe-failures list";
  const args = parseCommandArgs(command, argv, PROBE_FAILURES_LIST_FLAGS);
  const target = operatorTarget(command, args);
  const limit = integerFlag(command, "limit", args.string("limit"), 1);
  const client = rolloutClient(target);
  const items = await collect(target, limit, async (pageToken, pageSize) => {
    const res = await client.listProbeFailures({
      rolloutId: only(args.string("rollout")),
      hostname: only(args.string("host")),
      probeName: only(args.string("probe")),
      pageSize,
      pageToken,
    });
    return { items: res.probeFailures, next: res.nextPageToken };
  });
  print(
    target,
    ProbeFailureSchema,
    items,
    "no probe failures match",
    ["OBSERVED", "ROLLOUT", "HOST", "PROBE", "CONTROL", "FRAMEWORK", "REASON"],
    (f) => [
      formatTime(f.observedAt),
      f.rolloutId,
      f.hostname,
      f.probeName,
      f.controlId ?? "-",
      f.framework ?? "-",
      f.failureReason ?? "-",
    ],
  );
}

/** `rollout list`. */
export async function rolloutListCommand(argv: readonly string[]): Promise<void> {
  const command = "rollout list";
  const args = parseCommandArgs(command, argv, ROLLOUT_LIST_FLAGS);
  const target = operatorTarget(command, args);
  const client = rolloutClient(target);
  const items = await collect(target, undefined, async (pageToken, pageSize) => {
    const res = await client.listRollouts({
      channel: only(args.string("channel")),
      pageSize,
      pageToken,
    });
    return { items: res.rollouts, next: res.nextPageToken };
  });
  print(
    target,
    RolloutSummarySchema,
    items,
    "no rollouts match",
    ["ROLLOUT", "STATUS", "OPENED", "HOSTS"],
    (r) => [
      r.rollout?.id ?? "",
      statusName(r.status),
      formatTime(r.rollout?.openedAt),
      countsLine(r),
    ],
  );
}
