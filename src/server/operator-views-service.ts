// The operator views of RolloutService: the refused-event log, quarantined closures, probe
// failures, and rollouts with their derived status. Read-only, keyset-paged.
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  GetRolloutResponseSchema,
  ListProbeFailuresResponseSchema,
  ListQuarantinedClosuresResponseSchema,
  ListRefusedEventsResponseSchema,
  ListRolloutsResponseSchema,
  type RolloutService,
} from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { REFUSAL_REASONS } from "../core/refusal.js";
import type { Database } from "../storage/database.js";
import {
  getRolloutWithCounts,
  listRolloutsWithCounts,
  pageProbeFailures,
  pageQuarantines,
} from "../storage/operator-views.js";
import { listRefusedEvents } from "../storage/refused-events.js";
import {
  encodeProbeFailure,
  encodeQuarantine,
  encodeRefusedEvent,
  encodeRolloutSummary,
} from "./convert/encode-operator-views.js";
import { rolloutIdProblem } from "./convert/identifiers.js";
import { decodePageToken, encodePageToken } from "./page-token.js";
import { serviceError, toConnectError } from "./service-error.js";

const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;

type Views = Pick<
  ServiceImpl<typeof RolloutService>,
  | "listRefusedEvents"
  | "listQuarantinedClosures"
  | "listProbeFailures"
  | "getRollout"
  | "listRollouts"
>;

function invalid(field: string, message: string): never {
  throw toConnectError(serviceError("invalid_argument", `${field}: ${message}`, { field }));
}

function pageSize(requested: number): number {
  return requested === 0 ? DEFAULT_PAGE : Math.min(requested, MAX_PAGE);
}

/** Keeps only the filters that are set (proto3 strings are "" when unset). */
function filters<K extends string>(values: Record<K, string>): Partial<Record<K, string>> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== "")) as Partial<
    Record<K, string>
  >;
}

const isId = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);
const isText = (v: unknown): v is string => typeof v === "string";
const isClosureKey = (v: unknown): v is { channel: string; closure: string } =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as { channel?: unknown }).channel === "string" &&
  typeof (v as { closure?: unknown }).closure === "string";

/**
 * Reads `size + 1` rows to learn whether another page follows; returns the page and the
 * token to continue after its last row.
 */
function paged<T>(rows: readonly T[], size: number, filter: object, keyOf: (row: T) => unknown) {
  const page = rows.slice(0, size);
  const last = page.at(-1);
  const next = rows.length > size && last !== undefined ? encodePageToken(filter, keyOf(last)) : "";
  return { page, next };
}

/** The operator views over the store. */
export function createOperatorViews(database: Database): Views {
  const db = database.db;
  return {
    async listRefusedEvents(req) {
      const filter = filters({
        rolloutId: req.rolloutId,
        hostname: req.hostname,
        reason: req.reason,
      });
      if (
        filter.reason !== undefined &&
        !(REFUSAL_REASONS as readonly string[]).includes(filter.reason)
      ) {
        invalid("reason", `must be one of ${REFUSAL_REASONS.join(", ")}`);
      }
      const size = pageSize(req.pageSize);
      const afterId = decodePageToken(req.pageToken, filter, isId);
      const rows = await listRefusedEvents(db, filter, {
        ...(afterId !== undefined ? { afterId } : {}),
        limit: size + 1,
      });
      const { page, next } = paged(rows, size, filter, (r) => r.id);
      return create(ListRefusedEventsResponseSchema, {
        refusedEvents: page.map(encodeRefusedEvent),
        nextPageToken: next,
      });
    },

    async listQuarantinedClosures(req) {
      const filter = filters({ channel: req.channel });
      const size = pageSize(req.pageSize);
      const after = decodePageToken(req.pageToken, filter, isClosureKey);
      const rows = await pageQuarantines(db, filter, {
        ...(after !== undefined ? { after } : {}),
        limit: size + 1,
      });
      const { page, next } = paged(rows, size, filter, (q) => ({
        channel: q.channel,
        closure: q.closure,
      }));
      return create(ListQuarantinedClosuresResponseSchema, {
        quarantinedClosures: page.map(encodeQuarantine),
        nextPageToken: next,
      });
    },

    async listProbeFailures(req) {
      const filter = filters({
        rolloutId: req.rolloutId,
        hostname: req.hostname,
        probeName: req.probeName,
      });
      const size = pageSize(req.pageSize);
      const afterId = decodePageToken(req.pageToken, filter, isId);
      const rows = await pageProbeFailures(db, filter, {
        ...(afterId !== undefined ? { afterId } : {}),
        limit: size + 1,
      });
      const { page, next } = paged(rows, size, filter, (f) => f.id);
      return create(ListProbeFailuresResponseSchema, {
        probeFailures: page.map(encodeProbeFailure),
        nextPageToken: next,
      });
    },

    async getRollout(req) {
      const problem = rolloutIdProblem(req.rolloutId);
      if (problem !== undefined) invalid("rolloutId", problem);
      const found = await getRolloutWithCounts(db, req.rolloutId);
      if (found === undefined) {
        throw toConnectError(serviceError("not_found", `no rollout "${req.rolloutId}"`));
      }
      return create(GetRolloutResponseSchema, { rollout: encodeRolloutSummary(found) });
    },

    async listRollouts(req) {
      const filter = filters({ channel: req.channel });
      const size = pageSize(req.pageSize);
      const after = decodePageToken(req.pageToken, filter, isText);
      const rows = await listRolloutsWithCounts(db, filter, {
        ...(after !== undefined ? { after } : {}),
        limit: size + 1,
      });
      const { page, next } = paged(rows, size, filter, (r) => r.rollout.id);
      return create(ListRolloutsResponseSchema, {
        rollouts: page.map(encodeRolloutSummary),
        nextPageToken: next,
      });
    },
  };
}
