// nixfleet.ops.v1.RolloutService: open rollouts, read records and history, and watch a
// rollout's host state changes. Operators only (enforced by the auth interceptor).
import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { HealthFailurePolicy } from "../../gen/nixfleet/agent/v1/events_pb.js";
import {
  GetHostRolloutResponseSchema,
  ListEventsResponseSchema,
  ListHostRolloutsResponseSchema,
  OpenRolloutResponseSchema,
  type RolloutService,
  type WatchRolloutResponse,
  WatchRolloutResponseSchema,
} from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { HOST_STATES, type HostRolloutRecord } from "../core/domain.js";
import type { Instant } from "../core/instant.js";
import { parseRolloutId } from "../core/rollout-id.js";
import type { Clock } from "../runtime/clock.js";
import type { HostChange, WatchHub } from "../runtime/watch-hub.js";
import type { Database } from "../storage/database.js";
import { getRecord } from "../storage/get-record.js";
import { listEvents } from "../storage/list-events.js";
import { listRecords, type RecordFilter, type RecordKey } from "../storage/list-records.js";
import {
  type OpenRolloutRequest,
  type OpenRolloutResult,
  openRollout,
} from "../storage/open-rollout.js";
import { getRollout } from "../storage/rollout.js";
import { wireHostState } from "./agent-events-service.js";
import {
  encodeHostRollout,
  encodeLoggedEvent,
  encodeRollout,
  timestampOf,
} from "./convert/encode-host-rollout.js";
import { MAX_CLOSURE, machineIdProblem, rolloutIdProblem } from "./convert/identifiers.js";
import { textProblem } from "./convert/text-problem.js";
import { createOperatorViews } from "./operator-views-service.js";
import { type ServiceError, serviceError, toConnectError } from "./service-error.js";
import { openWatchFeed } from "./watch-feed.js";

export interface RolloutServiceDeps {
  readonly database: Database;
  readonly hub: WatchHub;
  readonly clock: Clock;
  /** Aborted when the server starts shutting down; open watches then end unavailable. */
  readonly stopping: AbortSignal;
  /** Writes a rollout (the service's writer thread on SQLite); default: in `database`. */
  readonly openRollout?: (request: OpenRolloutRequest, now: Instant) => Promise<OpenRolloutResult>;
}

const MAX_HOSTS = 100_000;
const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;

function fail(error: ServiceError): never {
  throw toConnectError(error);
}
function invalid(field: string, message: string): never {
  fail(serviceError("invalid_argument", `${field}: ${message}`, { field }));
}

function requireRolloutId(id: string, field = "rolloutId"): string {
  const problem = rolloutIdProblem(id);
  if (problem !== undefined) invalid(field, problem);
  return id;
}

function pageSize(requested: number): number {
  return requested === 0 ? DEFAULT_PAGE : Math.min(requested, MAX_PAGE);
}

interface PageToken {
  readonly f: RecordFilter;
  readonly a: RecordKey;
}

function encodeToken(filter: RecordFilter, after: RecordKey): string {
  return Buffer.from(JSON.stringify({ f: filter, a: after } satisfies PageToken)).toString(
    "base64url",
  );
}

function decodeToken(token: string, filter: RecordFilter): RecordKey | undefined {
  if (token === "") return undefined;
  let parsed: PageToken;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as PageToken;
  } catch {
    return invalid("pageToken", "is not a token this service issued");
  }
  if (
    JSON.stringify(parsed.f) !== JSON.stringify(filter) ||
    typeof parsed.a?.rolloutId !== "string"
  ) {
    invalid("pageToken", "was issued for different filters");
  }
  return parsed.a;
}

/** Implements RolloutService over the store and the watch hub. */
export function createRolloutService(deps: RolloutServiceDeps): ServiceImpl<typeof RolloutService> {
  const { database, hub, clock, stopping } = deps;
  const db = database.db;
  const open = deps.openRollout ?? ((request, now) => openRollout(db, request, now));

  return {
    ...createOperatorViews(database),

    async openRollout(req) {
      const id = requireRolloutId(req.rolloutId);
      const channel = parseRolloutId(id)?.channel as string;
      const policy =
        req.onHealthFailure === HealthFailurePolicy.HALT
          ? "halt"
          : req.onHealthFailure === HealthFailurePolicy.ROLLBACK_AND_HALT
            ? "rollback-and-halt"
            : invalid(
                "onHealthFailure",
                "must be HEALTH_FAILURE_POLICY_HALT or HEALTH_FAILURE_POLICY_ROLLBACK_AND_HALT",
              );
      const soak = req.soakDuration;
      if (soak === undefined) invalid("soakDuration", 'is required (e.g. "600s")');
      if (soak.seconds < 0n || soak.nanos !== 0 || soak.seconds > 315_360_000n) {
        invalid("soakDuration", "must be whole seconds between 0 and 10 years");
      }
      if (req.hosts.length === 0) invalid("hosts", "must name at least one host");
      if (req.hosts.length > MAX_HOSTS) invalid("hosts", `must have at most ${MAX_HOSTS} hosts`);
      const seen = new Set<string>();
      req.hosts.forEach((h, i) => {
        const problem = machineIdProblem(h.hostname);
        if (problem !== undefined) invalid(`hosts[${i}].hostname`, problem);
        if (seen.has(h.hostname))
          invalid(`hosts[${i}].hostname`, `"${h.hostname}" is listed twice`);
        seen.add(h.hostname);
        if (h.targetClosure.length === 0 || h.targetClosure.length > MAX_CLOSURE) {
          invalid(`hosts[${i}].targetClosure`, `must be 1..${MAX_CLOSURE} characters`);
        }
        const closureProblem = textProblem(h.targetClosure);
        if (closureProblem !== undefined) invalid(`hosts[${i}].targetClosure`, closureProblem);
      });
      const result = await open(
        {
          rolloutId: id,
          channel,
          policy,
          soakDurationSecs: Number(soak.seconds),
          hosts: req.hosts.map((h) => ({ hostname: h.hostname, targetClosure: h.targetClosure })),
        },
        clock.now(),
      );
      if (!result.ok)
        fail(
          serviceError(
            "already_exists",
            `rollout ${id} exists with a different ${result.conflict}: ${result.message}`,
          ),
        );
      return create(OpenRolloutResponseSchema, {
        rollout: encodeRollout(result.rollout),
        created: result.created,
        hostCount: req.hosts.length,
      });
    },

    async getHostRollout(req) {
      const id = requireRolloutId(req.rolloutId);
      if (req.hostname === "") invalid("hostname", "is required");
      const record = await getRecord(db, id, req.hostname);
      if (record === undefined)
        fail(serviceError("not_found", `no record for host "${req.hostname}" in rollout "${id}"`));
      return create(GetHostRolloutResponseSchema, { hostRollout: encodeHostRollout(record) });
    },

    async listHostRollouts(req) {
      const filter: RecordFilter = {
        ...(req.rolloutId !== "" ? { rolloutId: requireRolloutId(req.rolloutId) } : {}),
        ...(req.hostname !== "" ? { hostname: req.hostname } : {}),
        ...(req.state !== 0
          ? { state: HOST_STATES[req.state - 1] ?? invalid("state", `unknown state ${req.state}`) }
          : {}),
      };
      const after = decodeToken(req.pageToken, filter);
      const page = await listRecords(db, filter, {
        pageSize: pageSize(req.pageSize),
        ...(after ? { after } : {}),
      });
      return create(ListHostRolloutsResponseSchema, {
        hostRollouts: page.records.map(encodeHostRollout),
        nextPageToken: page.next === undefined ? "" : encodeToken(filter, page.next),
      });
    },

    async listEvents(req) {
      const id = requireRolloutId(req.rolloutId);
      if (req.afterId > BigInt(Number.MAX_SAFE_INTEGER)) invalid("afterId", "is out of range");
      const events = await listEvents(db, {
        rolloutId: id,
        ...(req.hostname !== "" ? { hostname: req.hostname } : {}),
        afterId: Number(req.afterId),
        limit: pageSize(req.limit),
      });
      return create(ListEventsResponseSchema, {
        events: events.map(encodeLoggedEvent),
        lastId: BigInt(events.at(-1)?.id ?? 0),
      });
    },

    async *watchRollout(req, context) {
      const id = requireRolloutId(req.rolloutId);
      if ((await getRollout(db, id)) === undefined)
        fail(serviceError("not_found", `no rollout "${id}"`));
      yield* watch(id, context);
    },
  };

  /**
   * Subscribes before reading the snapshot, then drops buffered changes the snapshot already
   * reflects (by each host's seq), so nothing is lost or repeated across the boundary.
   */
  async function* watch(id: string, context: HandlerContext): AsyncGenerator<WatchRolloutResponse> {
    const feed = openWatchFeed<HostChange>(
      (listener) => hub.subscribe(id, listener),
      context.signal,
      stopping,
    );
    try {
      // On PostgreSQL the hub follows the shared log: read the snapshot only once it does.
      await hub.ready(id).catch(() =>
        fail(
          serviceError("unavailable", "cannot follow the rollout's changes right now; retry", {
            retryAfterSeconds: 1,
          }),
        ),
      );
      const seqs = new Map<string, number>();
      let after: RecordKey | undefined;
      let count = 0;
      do {
        const page = await listRecords(
          db,
          { rolloutId: id },
          { pageSize: MAX_PAGE, ...(after ? { after } : {}) },
        );
        for (const record of page.records) {
          seqs.set(record.hostname, record.lastEventSeq);
          count++;
          yield create(WatchRolloutResponseSchema, {
            update: { case: "snapshot", value: encodeHostRollout(record) },
          });
        }
        after = page.next;
      } while (after !== undefined);
      yield create(WatchRolloutResponseSchema, {
        update: { case: "snapshotComplete", value: { hostCount: count } },
      });
      for (let change = await feed.next(); change !== undefined; change = await feed.next()) {
        const known = seqs.get(change.hostname) ?? 0;
        if (change.record.lastEventSeq <= known) continue;
        seqs.set(change.hostname, change.record.lastEventSeq);
        yield changeMessage(change);
      }
    } finally {
      feed.close();
    }
  }
}

function changeMessage(change: HostChange): WatchRolloutResponse {
  const record: HostRolloutRecord = change.record;
  return create(WatchRolloutResponseSchema, {
    update: {
      case: "change",
      value: {
        hostname: change.hostname,
        from: wireHostState(change.from),
        to: wireHostState(change.to),
        at: timestampOf(change.at),
        eventId: BigInt(change.eventLogId),
        hostRollout: encodeHostRollout(record),
      },
    },
  });
}
