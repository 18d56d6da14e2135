// `nixfleet-cp rollout open`: opens a rollout with its hosts' target closures; safe to
// repeat, since the server treats an identical re-open as a no-op.
import { readFile } from "node:fs/promises";
import { create, toJson } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { HealthFailurePolicy } from "../../gen/nixfleet/agent/v1/events_pb.js";
import {
  OpenRolloutResponseSchema,
  type RolloutHost,
  RolloutHostSchema,
} from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { parseCommandArgs } from "./args.js";
import { formatDuration, parseDurationSeconds } from "./duration.js";
import { ROLLOUT_OPEN_FLAGS } from "./flags.js";
import { CommandError, operatorTarget, rolloutClient, rpc } from "./operator-client.js";
import { UsageError } from "./usage.js";

const COMMAND = "rollout open";
const POLICIES: Record<string, HealthFailurePolicy> = {
  halt: HealthFailurePolicy.HALT,
  "rollback-and-halt": HealthFailurePolicy.ROLLBACK_AND_HALT,
};

/** `rollout open <rolloutId> --policy P --soak D (--host H=C ... | --hosts-file F)`. */
export async function rolloutOpenCommand(argv: readonly string[]): Promise<void> {
  const args = parseCommandArgs(COMMAND, argv, ROLLOUT_OPEN_FLAGS, ["rolloutId"]);
  const rolloutId = args.positionals[0] as string;
  const policyText = args.string("policy");
  if (policyText === undefined) throw new UsageError("--policy is required", COMMAND);
  const policy = POLICIES[policyText];
  if (policy === undefined) {
    throw new UsageError(
      `--policy: expected halt or rollback-and-halt, got "${policyText}"`,
      COMMAND,
    );
  }
  const soakText = args.string("soak");
  if (soakText === undefined) throw new UsageError("--soak is required", COMMAND);
  const soak = parseDurationSeconds(soakText);
  if (soak === undefined) {
    throw new UsageError(`--soak: expected e.g. 600s, 10m, 1h or 0, got "${soakText}"`, COMMAND);
  }
  const hosts = args.list("host").map(parseHostFlag);
  const file = args.string("hosts-file");
  if (file !== undefined) hosts.push(...(await readHostsFile(file)));
  if (hosts.length === 0) throw new UsageError("name hosts with --host or --hosts-file", COMMAND);

  const target = operatorTarget(COMMAND, args);
  const client = rolloutClient(target);
  const res = await rpc(target, () =>
    client.openRollout({
      rolloutId,
      onHealthFailure: policy,
      soakDuration: create(DurationSchema, { seconds: BigInt(soak) }),
      hosts,
    }),
  );
  if (target.json) {
    const json = toJson(OpenRolloutResponseSchema, res, { alwaysEmitImplicit: true });
    process.stdout.write(`${JSON.stringify(json)}\n`);
    return;
  }
  const settings = `policy ${policyText}, soak ${formatDuration(soak)}`;
  const count = `${res.hostCount} host${res.hostCount === 1 ? "" : "s"}`;
  process.stdout.write(
    res.created
      ? `created rollout ${rolloutId}: ${count}, ${settings}\n`
      : `unchanged: rollout ${rolloutId} was already open with these ${count} and ${settings}\n`,
  );
}

function parseHostFlag(text: string): RolloutHost {
  const eq = text.indexOf("=");
  if (eq <= 0 || eq === text.length - 1) {
    throw new UsageError(`--host: expected HOST=CLOSURE, got "${text}"`, COMMAND);
  }
  return create(RolloutHostSchema, {
    hostname: text.slice(0, eq),
    targetClosure: text.slice(eq + 1),
  });
}

async function readHostsFile(path: string): Promise<RolloutHost[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new CommandError(`--hosts-file ${path}: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed)) {
    throw new CommandError(
      `--hosts-file ${path}: expected a JSON array of {hostname, targetClosure}`,
    );
  }
  return parsed.map((entry: unknown, i) => {
    const e = entry as { hostname?: unknown; targetClosure?: unknown } | null;
    if (typeof e?.hostname !== "string" || typeof e.targetClosure !== "string") {
      throw new CommandError(
        `--hosts-file ${path}: entry ${i} needs string "hostname" and "targetClosure"`,
      );
    }
    return create(RolloutHostSchema, { hostname: e.hostname, targetClosure: e.targetClosure });
  });
}
