// Opening a rollout (SPEC §5): the rollout row and one Pending record per host, in one
// transaction; re-opening with the same definition is a no-op, a different one a conflict.
import type { HealthFailurePolicy } from "../core/domain.js";
import type { Instant } from "../core/instant.js";
import { type OpenRolloutInput, openRecords } from "../core/open-rollout.js";
import { parseRolloutId } from "../core/rollout-id.js";
import { inTransaction, type Queryable } from "./in-transaction.js";
import { recordToRow } from "./record-row.js";
import { type Rollout, rowToRollout } from "./rollout.js";

/** A rollout to open: the core's input plus the health-failure policy. */
export interface OpenRolloutRequest extends OpenRolloutInput {
  readonly policy: HealthFailurePolicy;
}

/** What differs from the rollout already stored under the same id. */
// The channel is part of the id (validated below), so it cannot differ for the same id.
export type OpenRolloutConflict = "policy" | "soakDuration" | "hosts";

/** Opened (created) or found identical (not created); or a conflict with the stored one. */
export type OpenRolloutResult =
  | { readonly ok: true; readonly created: boolean; readonly rollout: Rollout }
  | {
      readonly ok: false;
      readonly conflict: OpenRolloutConflict;
      readonly message: string;
      /** The rollout as stored. */
      readonly existing: Rollout;
    };

// Below SQLite's and PostgreSQL's bound-parameter limits at 22 columns a row.
const INSERT_CHUNK = 500;

/**
 * Opens a rollout at `now` (CP clock). Idempotent: the same id with the same channel,
 * policy, soak duration and (hostname, targetClosure) set returns `created: false` and
 * changes nothing. Safe under concurrent opens of one id (the rollout insert is
 * ON CONFLICT DO NOTHING, so the loser compares against the winner's row).
 * Throws RangeError on input the server must have rejected already: a non-canonical
 * rollout id, a channel that is not the id's, a bad soak duration, duplicate hostnames.
 */
export async function openRollout(
  db: Queryable,
  request: OpenRolloutRequest,
  now: Instant,
): Promise<OpenRolloutResult> {
  validate(request);
  return inTransaction(db, async (trx) => {
    const inserted = await trx
      .insertInto("rollouts")
      .values({
        id: request.rolloutId,
        channel: request.channel,
        on_health_failure: request.policy,
        soak_duration_secs: request.soakDurationSecs,
        opened_at: now,
      })
      .onConflict((oc) => oc.column("id").doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return compare(trx, request);

    const rows = openRecords(request, now).map(recordToRow);
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      await trx
        .insertInto("host_rollout_records")
        .values(rows.slice(i, i + INSERT_CHUNK))
        .execute();
    }
    const rollout: Rollout = {
      id: request.rolloutId,
      channel: request.channel,
      policy: request.policy,
      soakDurationSecs: request.soakDurationSecs,
      openedAt: now,
    };
    return { ok: true, created: true, rollout };
  });
}

function validate(request: OpenRolloutRequest): void {
  const parsed = parseRolloutId(request.rolloutId);
  if (parsed === undefined) {
    throw new RangeError(`rollout id ${JSON.stringify(request.rolloutId)} is not canonical`);
  }
  if (parsed.channel !== request.channel) {
    throw new RangeError(
      `channel ${JSON.stringify(request.channel)} is not the channel of ${request.rolloutId}`,
    );
  }
  if (!Number.isSafeInteger(request.soakDurationSecs) || request.soakDurationSecs < 0) {
    throw new RangeError(`soak duration ${request.soakDurationSecs} is not a whole number >= 0`);
  }
  const seen = new Set<string>();
  for (const { hostname } of request.hosts) {
    if (seen.has(hostname)) throw new RangeError(`host ${hostname} is listed twice`);
    seen.add(hostname);
  }
}

async function compare(trx: Queryable, request: OpenRolloutRequest): Promise<OpenRolloutResult> {
  const row = await trx
    .selectFrom("rollouts")
    .selectAll()
    .where("id", "=", request.rolloutId)
    .executeTakeFirstOrThrow();
  const existing = rowToRollout(row);
  const conflict = (c: OpenRolloutConflict, message: string): OpenRolloutResult => ({
    ok: false,
    conflict: c,
    message: `rollout ${request.rolloutId} is already open with ${message}`,
    existing,
  });
  if (existing.policy !== request.policy) {
    return conflict("policy", `health-failure policy ${existing.policy}`);
  }
  if (existing.soakDurationSecs !== request.soakDurationSecs) {
    return conflict("soakDuration", `a soak duration of ${existing.soakDurationSecs}s`);
  }
  const hosts = await trx
    .selectFrom("host_rollout_records")
    .select(["hostname", "target_closure"])
    .where("rollout_id", "=", request.rolloutId)
    .execute();
  const stored = new Map(hosts.map((h) => [h.hostname, h.target_closure]));
  const same =
    stored.size === request.hosts.length &&
    request.hosts.every((h) => stored.get(h.hostname) === h.targetClosure);
  if (!same) return conflict("hosts", `a different set of ${stored.size} hosts or targets`);
  return { ok: true, created: false, rollout: existing };
}
