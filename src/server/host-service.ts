// nixfleet.ops.v1.HostService: host liveness for operators (SPEC §8). ListHosts reads the
// hosts table with reachability derived from the configured interval; WatchHosts streams the
// hosts, then every liveness change the runtime's monitor notices. Operators only.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  type Host,
  HostSchema,
  type HostService,
  ListHostsResponseSchema,
  Reachability,
  type WatchHostsResponse,
  WatchHostsResponseSchema,
} from "../../gen/nixfleet/ops/v1/host_service_pb.js";
import type { Instant } from "../core/instant.js";
import type { LivenessChange, LivenessMonitor } from "../runtime/liveness-monitor.js";
import type { Database } from "../storage/database.js";
import { type HostFilter, type HostRow, listHosts } from "../storage/hosts.js";
import { timestampOf } from "./convert/encode-host-rollout.js";
import { serviceError, toConnectError } from "./service-error.js";
import { openWatchFeed } from "./watch-feed.js";

export interface HostServiceDeps {
  readonly database: Database;
  readonly liveness: LivenessMonitor;
  readonly heartbeatIntervalMs: number;
  /** Aborted when the server starts shutting down; open watches then end. */
  readonly stopping: AbortSignal;
}

const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;

function invalid(field: string, message: string): never {
  throw toConnectError(serviceError("invalid_argument", `${field}: ${message}`, { field }));
}

/** A Host message for a row, reachable when last heard at or after `cutoff`. */
export function encodeHost(row: HostRow, reachable: boolean): Host {
  return create(HostSchema, {
    hostname: row.hostname,
    lastHeartbeatAt: timestampOf(row.lastHeartbeatAt),
    lastHeartbeatReceivedAt: timestampOf(row.receivedAt),
    currentClosure: row.currentClosure ?? undefined,
    reachable,
  });
}

const isReachable = (row: HostRow, cutoff: Instant) => row.receivedAt >= cutoff;

/** Implements HostService over the store and the liveness monitor. */
export function createHostService(deps: HostServiceDeps): ServiceImpl<typeof HostService> {
  const { database, liveness, heartbeatIntervalMs, stopping } = deps;
  const db = database.db;

  return {
    async listHosts(req) {
      const cutoff = liveness.cutoff();
      const filter: HostFilter =
        req.reachability === Reachability.REACHABLE
          ? { reachability: "reachable", cutoff }
          : req.reachability === Reachability.UNREACHABLE
            ? { reachability: "unreachable", cutoff }
            : req.reachability === Reachability.UNSPECIFIED
              ? { reachability: "any" }
              : invalid("reachability", `unknown value ${req.reachability}`);
      const after = decodeToken(req.pageToken, req.reachability);
      const limit = req.pageSize === 0 ? DEFAULT_PAGE : Math.min(req.pageSize, MAX_PAGE);
      // One more than asked tells whether another page follows.
      const rows = await listHosts(db, filter, {
        limit: limit + 1,
        ...(after === undefined ? {} : { after }),
      });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return create(ListHostsResponseSchema, {
        hosts: page.map((row) => encodeHost(row, isReachable(row, cutoff))),
        nextPageToken:
          rows.length > limit && last !== undefined
            ? encodeToken(req.reachability, last.hostname)
            : "",
        heartbeatInterval: {
          seconds: BigInt(Math.floor(heartbeatIntervalMs / 1000)),
          nanos: (heartbeatIntervalMs % 1000) * 1_000_000,
        },
      });
    },

    async *watchHosts(_req, context) {
      yield* watch(context);
    },
  };

  /**
   * Subscribes before reading the snapshot; afterwards a change is sent only when it flips
   * what this watcher last saw for the host, so nothing repeats across the boundary.
   */
  async function* watch(context: HandlerContext): AsyncGenerator<WatchHostsResponse> {
    const feed = openWatchFeed<LivenessChange>(
      (listener) => liveness.subscribe(listener),
      context.signal,
      stopping,
    );
    try {
      const seen = new Map<string, boolean>();
      const cutoff = liveness.cutoff();
      let after: string | undefined;
      let count = 0;
      for (;;) {
        const rows = await listHosts(
          db,
          { reachability: "any" },
          { limit: MAX_PAGE, ...(after === undefined ? {} : { after }) },
        );
        for (const row of rows) {
          const reachable = isReachable(row, cutoff);
          seen.set(row.hostname, reachable);
          count++;
          yield create(WatchHostsResponseSchema, {
            update: { case: "snapshot", value: encodeHost(row, reachable) },
          });
        }
        if (rows.length < MAX_PAGE) break;
        after = rows.at(-1)?.hostname;
      }
      yield create(WatchHostsResponseSchema, {
        update: { case: "snapshotComplete", value: { hostCount: count } },
      });
      for (let change = await feed.next(); change !== undefined; change = await feed.next()) {
        if (seen.get(change.host.hostname) === change.reachable) continue;
        seen.set(change.host.hostname, change.reachable);
        yield create(WatchHostsResponseSchema, {
          update: { case: "change", value: encodeHost(change.host, change.reachable) },
        });
      }
    } finally {
      feed.close();
    }
  }
}

function encodeToken(reachability: Reachability, after: string): string {
  return Buffer.from(JSON.stringify({ r: reachability, a: after })).toString("base64url");
}

function decodeToken(token: string, reachability: Reachability): string | undefined {
  if (token === "") return undefined;
  let parsed: { r?: unknown; a?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as typeof parsed;
  } catch {
    return invalid("pageToken", "is not a token this service issued");
  }
  if (parsed.r !== reachability || typeof parsed.a !== "string") {
    invalid("pageToken", "was issued for a different filter");
  }
  return parsed.a as string;
}
