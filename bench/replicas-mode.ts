// --mode replicas: nixfleet-cp on PostgreSQL, 2 replicas on one database against 1, the same
// closed-loop load (Connect binary; each host's session pinned to one replica, as a load
// balancer would), then an exactly-once check of the database against what was acknowledged.
import pg from "pg";
import type { BenchPki } from "./bench-pki.js";
import type { BenchPostgres } from "./bench-postgres.js";
import { eventsPerLane } from "./event-sequence.js";
import { type Measurement, measure } from "./measure.js";
import { createRolloutIds, openRollouts } from "./open-rollouts.js";
import type { BenchOptions } from "./options.js";
import { anomalies } from "./phase-helpers.js";
import { median, num, ratio, table } from "./report.js";
import type { ServerProcess } from "./server-process.js";
import { startNixfleet } from "./servers.js";
import { openSessions, type SessionPool } from "./session-pool.js";
import { buildWorkload } from "./workload.js";

/** Above what nixfleet-cp reaches on PostgreSQL here; sizes the rollouts opened per run. */
const MAX_EXPECTED_RATE = 10_000;

interface ReplicaRun {
  readonly replicas: number;
  readonly perReplica: readonly Measurement[];
  readonly okPerSec: number;
  readonly cpuUsPerEvent: number;
  readonly check: ExactlyOnce;
}

/** What the database holds against what the driver saw acknowledged. */
export interface ExactlyOnce {
  readonly acknowledged: number;
  readonly logged: number;
  /** Acknowledged events absent from event_log. */
  readonly missing: number;
  /** (rollout, host, seq) logged more than once. */
  readonly duplicated: number;
  /** Records whose last_event_seq is not the highest seq logged for them. */
  readonly inconsistentRecords: number;
}

/** Checks event_log and host_rollout_records of `url` against the acknowledged keys. */
export async function checkExactlyOnce(
  url: string,
  acked: ReadonlySet<string>,
): Promise<ExactlyOnce> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const logged = await client.query<{ k: string }>(
      "select rollout_id || '/' || hostname || '/' || seq as k from event_log",
    );
    const keys = new Set<string>();
    let duplicated = 0;
    for (const { k } of logged.rows) {
      if (keys.has(k)) duplicated++;
      keys.add(k);
    }
    let missing = 0;
    for (const k of acked) if (!keys.has(k)) missing++;
    const inconsistent = await client.query<{ n: string }>(
      `select count(*) as n from (
         select r.rollout_id, r.hostname from host_rollout_records r
           left join event_log e on e.rollout_id = r.rollout_id and e.hostname = r.hostname
          group by r.rollout_id, r.hostname, r.last_event_seq
         having r.last_event_seq <> coalesce(max(e.seq), 0)) x`,
    );
    return {
      acknowledged: acked.size,
      logged: logged.rows.length,
      missing,
      duplicated,
      inconsistentRecords: Number(inconsistent.rows[0]?.n ?? 0),
    };
  } finally {
    await client.end();
  }
}

function clean(c: ExactlyOnce): boolean {
  return c.missing === 0 && c.duplicated === 0 && c.inconsistentRecords === 0;
}

/** Runs the replicas mode and returns its Markdown. */
export async function runReplicasMode(
  options: BenchOptions,
  pki: BenchPki,
  log: (line: string) => void,
  postgres: BenchPostgres,
): Promise<string> {
  const nextId = createRolloutIds();
  const hosts = pki.hosts.slice(0, options.hosts);
  const runs: ReplicaRun[] = [];
  const order: number[] = [];
  for (let r = 0; r < options.rounds; r++) order.push(...(r % 2 === 0 ? [1, 2] : [2, 1]));
  for (const replicas of order) {
    const url = await postgres.freshDatabase();
    const servers: ServerProcess[] = [];
    const pools: SessionPool[] = [];
    try {
      // One after the other: the first migrates the fresh database, the next finds it done.
      for (let i = 0; i < replicas; i++) {
        servers.push(
          await startNixfleet(pki, {
            serverArgs: options.serverArgs,
            nodeArgs: options.serverNodeArgs,
            databaseUrl: url,
            name: `nixfleet-cp replica ${i + 1}`,
          }),
        );
      }
      // Host h talks to replica h mod n, over its own session with its own certificate.
      const assigned = servers.map((_, i) =>
        hosts.map((_, h) => h).filter((h) => h % replicas === i),
      );
      for (const [i, server] of servers.entries()) {
        const identities = (assigned[i] as number[]).map((h) => pki.agent(h));
        pools.push(await openSessions("127.0.0.1", server.port, pki.ca, identities));
      }
      const seconds = (options.warmupMs + options.durationMs) / 1000;
      const perHost = (MAX_EXPECTED_RATE * seconds) / hosts.length;
      const count = Math.ceil(perHost / eventsPerLane(options.probeResults)) + options.lanes + 1;
      const rolloutIds = Array.from({ length: count }, nextId);
      await openRollouts({
        port: (servers[0] as ServerProcess).port,
        ca: pki.ca,
        operator: pki.operator,
        rolloutIds,
        hosts,
      });
      const acked = new Set<string>();
      const perReplica = await Promise.all(
        servers.map((server, i) =>
          measure(
            server,
            pools[i] as SessionPool,
            buildWorkload({
              protocol: "connect-binary",
              hosts: (assigned[i] as number[]).map((h) => hosts[h] as string),
              rolloutIds,
              lanesPerHost: options.lanes,
              probeResults: options.probeResults,
              recycle: false,
            }),
            {
              load: "closed",
              warmupMs: options.warmupMs,
              durationMs: options.durationMs,
              onOk: (request) => {
                if (request.key !== undefined) acked.add(request.key);
              },
            },
          ),
        ),
      );
      const okPerSec = perReplica.reduce((a, m) => a + m.okPerSec, 0);
      const ok = perReplica.reduce((a, m) => a + m.result.counts.ok, 0);
      const cpu = perReplica.reduce((a, m) => a + m.cpuUsPerOk * m.result.counts.ok, 0);
      for (const pool of pools) await pool.close();
      pools.length = 0;
      for (const server of servers) await server.stop();
      const check = await checkExactlyOnce(url, acked);
      runs.push({ replicas, perReplica, okPerSec, cpuUsPerEvent: cpu / ok, check });
      log(
        `  ${replicas} replica(s): ${num(okPerSec)} ok/s, ${num(cpu / ok)} µs CPU/event; acknowledged ${num(check.acknowledged)}, logged ${num(check.logged)}, missing ${check.missing}, duplicated ${check.duplicated}, inconsistent records ${check.inconsistentRecords} ${perReplica.map(anomalies).filter(Boolean).join("; ")}`,
      );
    } finally {
      for (const pool of pools) await pool.close();
      for (const server of servers) await server.stop();
    }
  }

  const rate = (n: number) => median(runs.filter((r) => r.replicas === n).map((r) => r.okPerSec));
  const allClean = runs.every((r) => clean(r.check));
  return [
    `### PostgreSQL: 2 nixfleet-cp replicas on one database against 1 (${postgres.description}; Connect binary, closed loop, ${options.hosts} hosts × ${options.lanes} lanes, each host pinned to replica h mod n; ${num(options.durationMs / 1000, 1)} s windows; rounds alternate 1/2 and 2/1)`,
    "",
    table(
      [
        "replicas",
        "ok events/s, all replicas (raw)",
        "server CPU µs/event, all replicas (raw)",
        "acknowledged",
        "in event_log",
        "acknowledged but missing",
        "logged twice",
        "records whose last_event_seq ≠ max logged seq",
        "non-ok answers",
      ],
      runs.map((r) => [
        String(r.replicas),
        num(r.okPerSec),
        num(r.cpuUsPerEvent),
        num(r.check.acknowledged),
        num(r.check.logged),
        num(r.check.missing),
        num(r.check.duplicated),
        num(r.check.inconsistentRecords),
        r.perReplica.map(anomalies).filter(Boolean).join("; ") || "none",
      ]),
    ),
    "",
    table(
      ["figure", "value", "verdict"],
      [
        ["ok events/s, 2 replicas ÷ 1 (medians)", ratio(rate(2), rate(1)), ""],
        [
          "exactly once: every acknowledged event logged once, no event logged twice, every record's last_event_seq the highest seq logged for it",
          allClean ? "every run" : "NOT in every run",
          allClean ? "met" : "missed",
        ],
      ],
    ),
  ].join("\n");
}
