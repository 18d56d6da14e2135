// `nixfleet-cp rollout history`: a rollout's event log in commit order, one line per event,
// streamed page by page so a long history prints as it arrives.
import { type JsonObject, toJson } from "@bufbuild/protobuf";
import {
  type EventLogEntry,
  EventLogEntrySchema,
} from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { integerFlag, parseCommandArgs } from "./args.js";
import { summarizeEvent } from "./event-summary.js";
import { ROLLOUT_HISTORY_FLAGS } from "./flags.js";
import { formatTime } from "./format.js";
import { operatorTarget, rolloutClient, rpc } from "./operator-client.js";

const COMMAND = "rollout history";
const PAGE_SIZE = 1000;
/** Wide enough for the longest kind, ProbeTopologyDeclared. */
const KIND_WIDTH = 21;

/** `rollout history <rolloutId> [--host H] [--after ID] [--limit N]`. */
export async function rolloutHistoryCommand(argv: readonly string[]): Promise<void> {
  const args = parseCommandArgs(COMMAND, argv, ROLLOUT_HISTORY_FLAGS, ["rolloutId"]);
  const rolloutId = args.positionals[0] as string;
  const hostname = args.string("host") ?? "";
  const after = BigInt(integerFlag(COMMAND, "after", args.string("after"), 0) ?? 0);
  let afterId = after;
  const limit = integerFlag(COMMAND, "limit", args.string("limit"), 1) ?? Number.POSITIVE_INFINITY;
  const target = operatorTarget(COMMAND, args);
  const client = rolloutClient(target);
  const out = target.json ? jsonLines() : textLines();
  let printed = 0;
  while (printed < limit) {
    const want = Math.min(PAGE_SIZE, limit - printed);
    const page = await rpc(target, () =>
      client.listEvents({ rolloutId, hostname, afterId, limit: want }),
    );
    out.write(page.events);
    printed += page.events.length;
    if (page.events.length < want) break;
    afterId = page.lastId;
  }
  if (printed === 0 && !target.json)
    process.stderr.write(`${noEvents(rolloutId, hostname, after)}\n`);
}

/** Says which events there are none of, e.g. "no events for web-01 in stable@3f2a after id 120". */
export function noEvents(rolloutId: string, hostname: string, after: bigint): string {
  const host = hostname === "" ? "" : ` for ${hostname}`;
  return `no events${host} in ${rolloutId}${after > 0n ? ` after id ${after}` : ""}`;
}

interface Printer {
  write(events: readonly EventLogEntry[]): void;
}

function jsonLines(): Printer {
  return {
    write(events) {
      const lines = events.map((e) => JSON.stringify(eventJson(e)));
      if (lines.length > 0) process.stdout.write(`${lines.join("\n")}\n`);
    },
  };
}

/**
 * An event as proto JSON, but with the signature in hex as the HTTP binding takes it (proto
 * JSON would print bytes in base64), so it can be compared with what the agent sent.
 */
export function eventJson(entry: EventLogEntry): JsonObject {
  const json = toJson(EventLogEntrySchema, entry, { alwaysEmitImplicit: true }) as JsonObject;
  json["signature"] = Buffer.from(entry.signature).toString("hex");
  return json;
}

// Column widths come from the first page and only grow, so pages line up without buffering.
function textLines(): Printer {
  const header = ["ID", "RECORDED", "HOST", "SEQ", "KIND", "SUMMARY"];
  const w = header.map((h) => h.length);
  let first = true;
  return {
    write(events) {
      if (events.length === 0) return;
      const rows = events.map((e) => [
        e.id.toString(),
        formatTime(e.recordedAt),
        e.hostname,
        e.seq.toString(),
        e.kind,
        // Healed by the control plane from a heartbeat, not reported by the agent.
        `${e.synthesized ? "[synthesized] " : ""}${summarizeEvent(e.event)}`,
      ]);
      for (const row of rows) {
        row.slice(0, 4).forEach((cell, i) => {
          w[i] = Math.max(w[i] ?? 0, cell.length);
        });
      }
      w[4] = KIND_WIDTH;
      const line = (cells: readonly string[]) =>
        cells
          .map((c, i) => (i < 5 ? c.padEnd(w[i] ?? 0) : c))
          .join("  ")
          .trimEnd();
      const lines = rows.map(line);
      if (first) lines.unshift(line(header));
      first = false;
      process.stdout.write(`${lines.join("\n")}\n`);
    },
  };
}
