// Shared setup for the storage tests: opening a rollout and reading back everything a
// store holds, in a dialect-neutral shape that two stores can be compared by.
import assert from "node:assert/strict";
import type { HealthFailurePolicy } from "../../src/core/domain.js";
import type { Database } from "../../src/storage/database.js";
import { listEvents } from "../../src/storage/list-events.js";
import { listProbeFailures } from "../../src/storage/list-probe-failures.js";
import { listQuarantines } from "../../src/storage/list-quarantines.js";
import { listRecords } from "../../src/storage/list-records.js";
import { openRollout } from "../../src/storage/open-rollout.js";
import { T0 } from "./events.js";

/** Opens `rolloutId` with the given hosts (all targeting `target-<host>` unless given). */
export async function open(
  database: Database,
  rolloutId: string,
  hosts: readonly (string | { hostname: string; targetClosure: string })[],
  options: { policy?: HealthFailurePolicy; soakDurationSecs?: number } = {},
): Promise<void> {
  const result = await openRollout(
    database.db,
    {
      rolloutId,
      channel: rolloutId.slice(0, rolloutId.indexOf("@")),
      policy: options.policy ?? "rollback-and-halt",
      soakDurationSecs: options.soakDurationSecs ?? 0,
      hosts: hosts.map((h) =>
        typeof h === "string" ? { hostname: h, targetClosure: `target-${h}` } : h,
      ),
    },
    T0,
  );
  assert.equal(result.ok, true);
}

/** Everything a store holds for `rolloutIds`, for comparing two stores. */
export async function snapshot(database: Database, rolloutIds: readonly string[]) {
  const { db } = database;
  const records = [];
  let after: { rolloutId: string; hostname: string } | undefined;
  do {
    const page = await listRecords(db, {}, { pageSize: 100, ...(after ? { after } : {}) });
    records.push(...page.records);
    after = page.next;
  } while (after !== undefined);
  const events = [];
  const probeFailures = [];
  for (const rolloutId of rolloutIds) {
    events.push(...(await listEvents(db, { rolloutId, limit: 1_000_000 })));
    probeFailures.push(...(await listProbeFailures(db, rolloutId)));
  }
  return { records, events, probeFailures, quarantines: await listQuarantines(db) };
}

/** Row count of a table. */
export async function count(
  database: Database,
  table: "event_log" | "probe_failures" | "quarantined_closures",
): Promise<number> {
  const row = await database.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
