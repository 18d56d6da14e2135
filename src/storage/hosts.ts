// Reads the hosts liveness table (SPEC §8): one row per host that ever sent a heartbeat.
// Reachability is derived from the CP time of the last heartbeat against a cutoff, never
// stored, so it is right after a restart and on every replica.
import type { Selectable } from "kysely";
import type { Instant } from "../core/instant.js";
import type { Queryable } from "./in-transaction.js";
import type { HostsTable } from "./schema.js";
import { toNumber } from "./to-number.js";

/** One host's liveness row. */
export interface HostRow {
  readonly hostname: string;
  /** The agent's clock in its last heartbeat. */
  readonly lastHeartbeatAt: Instant;
  /** The control plane's clock when the last heartbeat was committed. */
  readonly receivedAt: Instant;
  readonly currentClosure: string | null;
}

/** Which hosts to list: all, or those last heard at or after / before `cutoff`. */
export type HostFilter =
  | { readonly reachability: "any" }
  | { readonly reachability: "reachable" | "unreachable"; readonly cutoff: Instant };

/** Hosts matching `filter`, ordered by hostname, after `after`, at most `limit`. */
export async function listHosts(
  db: Queryable,
  filter: HostFilter,
  page: { readonly limit: number; readonly after?: string },
): Promise<HostRow[]> {
  if (!Number.isSafeInteger(page.limit) || page.limit < 1) {
    throw new RangeError(`limit ${page.limit} is not a positive integer`);
  }
  let q = db.selectFrom("hosts").selectAll();
  if (filter.reachability === "reachable")
    q = q.where("last_heartbeat_received_at", ">=", filter.cutoff);
  if (filter.reachability === "unreachable")
    q = q.where("last_heartbeat_received_at", "<", filter.cutoff);
  if (page.after !== undefined) q = q.where("hostname", ">", page.after);
  const rows = await q.orderBy("hostname").limit(page.limit).execute();
  return rows.map(toHostRow);
}

function toHostRow(r: Selectable<HostsTable>): HostRow {
  return {
    hostname: r.hostname,
    lastHeartbeatAt: r.last_heartbeat_at as Instant,
    receivedAt: r.last_heartbeat_received_at as Instant,
    currentClosure: r.current_closure,
  };
}

/** Every host last heard before `cutoff`: the unreachable ones. */
export async function unreachableHosts(db: Queryable, cutoff: Instant): Promise<HostRow[]> {
  const rows = await db
    .selectFrom("hosts")
    .selectAll()
    .where("last_heartbeat_received_at", "<", cutoff)
    .execute();
  return rows.map(toHostRow);
}

/** The rows of the named hosts (those that exist). */
export async function getHosts(db: Queryable, hostnames: readonly string[]): Promise<HostRow[]> {
  if (hostnames.length === 0) return [];
  const rows = await db
    .selectFrom("hosts")
    .selectAll()
    .where("hostname", "in", hostnames)
    .execute();
  return rows.map(toHostRow);
}

/** Every known hostname. */
export async function allHostnames(db: Queryable): Promise<string[]> {
  const rows = await db.selectFrom("hosts").select("hostname").execute();
  return rows.map((r) => r.hostname);
}

/** How many hosts were last heard before `cutoff`, and how many in all. */
export async function countHosts(
  db: Queryable,
  cutoff: Instant,
): Promise<{ unreachable: number; total: number }> {
  const row = await db
    .selectFrom("hosts")
    .select((eb) => [
      eb.fn.countAll().as("total"),
      eb.fn
        .count("hostname")
        .filterWhere("last_heartbeat_received_at", "<", cutoff)
        .as("unreachable"),
    ])
    .executeTakeFirstOrThrow();
  return {
    total: toNumber(row.total as number | bigint | string),
    unreachable: toNumber(row.unreachable as number | bigint | string),
  };
}
