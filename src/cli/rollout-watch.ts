// `nixfleet-cp rollout watch`: the rollout's current table, then one line per host state
// change as it commits, until Ctrl-C or the server ends the stream (both exit 0). A stream
// ended unavailable or resource_exhausted is resumed from a fresh snapshot, with backoff.
import { toJson } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { HostRollout } from "../../gen/nixfleet/ops/v1/host_rollout_pb.js";
import {
  type HostStateChange,
  WatchRolloutResponseSchema,
} from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { integerFlag, parseCommandArgs } from "./args.js";
import { ROLLOUT_WATCH_FLAGS } from "./flags.js";
import { formatTime, stateName, statusTable, summaryLine } from "./format.js";
import {
  CommandError,
  describeRpcError,
  operatorTarget,
  rolloutClient,
} from "./operator-client.js";

const COMMAND = "rollout watch";
const DEFAULT_RECONNECT_ATTEMPTS = 10;
const MAX_BACKOFF_MS = 10_000;

/** `rollout watch <rolloutId>`. */
export async function rolloutWatchCommand(argv: readonly string[]): Promise<void> {
  const args = parseCommandArgs(COMMAND, argv, ROLLOUT_WATCH_FLAGS, ["rolloutId"]);
  const rolloutId = args.positionals[0] as string;
  const target = operatorTarget(COMMAND, args);
  const maxAttempts =
    integerFlag(COMMAND, "reconnect-attempts", args.string("reconnect-attempts"), 0) ??
    DEFAULT_RECONNECT_ATTEMPTS;
  const client = rolloutClient(target);
  const stop = new AbortController();
  // Interrupting a watch is how it normally ends, so it is a success, not a failure.
  const onSignal = () => stop.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const write = (line: string) => process.stdout.write(`${line}\n`);
  // Only a watch that got going once is resumed: a first failure is a mistake to report.
  let watched = false;
  let attempt = 0;
  try {
    for (;;) {
      const snapshot: HostRollout[] = [];
      try {
        for await (const message of client.watchRollout({ rolloutId }, { signal: stop.signal })) {
          if (message.update.case === "snapshotComplete") {
            if (watched && attempt > 0)
              process.stderr.write(`watching ${rolloutId} again from a fresh snapshot\n`);
            watched = true;
            attempt = 0;
          }
          if (target.json) {
            write(
              JSON.stringify(
                toJson(WatchRolloutResponseSchema, message, { alwaysEmitImplicit: true }),
              ),
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
        if (!stop.signal.aborted)
          process.stderr.write(`the server ended the watch of ${rolloutId}\n`);
        return;
      } catch (error) {
        if (stop.signal.aborted) return;
        const e = ConnectError.from(error);
        if (!watched || !resumable(e)) throw await describeRpcError(error, target);
        if (attempt >= maxAttempts) {
          const tries = `${attempt} reconnect${attempt === 1 ? "" : "s"}`;
          throw new CommandError(
            `the watch of ${rolloutId} ended and ${tries} failed: ${(await describeRpcError(error, target)).message}`,
          );
        }
        attempt++;
        const delayMs = backoffMs(attempt, e);
        process.stderr.write(
          `the watch of ${rolloutId} ended (${Code[e.code]}: ${e.rawMessage}); reconnecting in ${(delayMs / 1000).toFixed(1)}s (attempt ${attempt} of ${maxAttempts})\n`,
        );
        if (!(await sleep(delayMs, stop.signal))) return;
      }
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** Unavailable: the server is going away (or is away); resource_exhausted: the watch fell behind. */
function resumable(error: ConnectError): boolean {
  return error.code === Code.Unavailable || error.code === Code.ResourceExhausted;
}

/**
 * Doubling from 0.5 s up to 10 s, never shorter than the server's retry-after hint, with
 * jitter so the watchers of a replica that went away do not all reconnect at once.
 */
export function backoffMs(attempt: number, error: ConnectError, random = Math.random): number {
  const hint = Number(error.metadata.get("retry-after") ?? 0);
  const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** (attempt - 1));
  const floor = Math.max(base, Number.isFinite(hint) ? hint * 1000 : 0);
  return Math.round(floor * (1 + 0.2 * random()));
}

/** Waits `ms`; false when interrupted first. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** E.g. `2026-05-16T01:27:05Z web-01 Activating -> Soaking seq 3`. */
export function changeLine(change: HostStateChange): string {
  const seq = change.hostRollout?.lastEventSeq.toString() ?? "?";
  return `${formatTime(change.at)} ${change.hostname} ${stateName(change.from)} -> ${stateName(change.to)} seq ${seq}`;
}
