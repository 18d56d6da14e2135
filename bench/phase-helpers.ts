// What the modes share around a measured phase: sessions to a server, fresh rollouts encoded
// for a protocol (single events or PostEvents batches), and the notes and rows of the reports.
import type { BatchSummary } from "./batch-histogram.js";
import type { BenchPki } from "./bench-pki.js";
import type { Workload } from "./load-driver.js";
import type { Measurement } from "./measure.js";
import { createRolloutIds, openRollouts } from "./open-rollouts.js";
import type { BenchOptions } from "./options.js";
import { num, pct } from "./report.js";
import type { ServerProcess } from "./server-process.js";
import { openSessions, type SessionPool } from "./session-pool.js";
import type { Protocol } from "./wire-format.js";
import { buildBatchWorkload, buildWorkload, rolloutsNeeded } from "./workload.js";

/** A server and the driver's sessions to it. */
export interface Target {
  readonly server: ServerProcess;
  readonly pool: SessionPool;
}

/** Helpers shared by the modes that drive nixfleet-cp with fresh rollouts. */
export interface Rollouts {
  /** Opens enough fresh rollouts for `events` requests and encodes them for `protocol`. */
  workload(
    target: Target,
    protocol: Protocol,
    events: number,
    lanesPerHost: number,
    probeResults?: number,
  ): Promise<Workload>;
  /** The same for PostEvents: each lane posts its host's next `batchEvents` events per call. */
  batchWorkload(
    target: Target,
    events: number,
    lanesPerHost: number,
    batchEvents: number,
  ): Promise<Workload>;
}

/** Creates the rollout opener for a run: ids never repeat, so nothing is a duplicate. */
export function createRollouts(pki: BenchPki, options: BenchOptions): Rollouts {
  const nextId = createRolloutIds();
  const open = async (target: Target, count: number) => {
    const hosts = pki.hosts.slice(0, target.pool.sessions.length);
    const rolloutIds = Array.from({ length: count }, nextId);
    await openRollouts({
      port: target.server.port,
      ca: pki.ca,
      operator: pki.operator,
      rolloutIds,
      hosts,
    });
    return { hosts, rolloutIds };
  };
  return {
    async batchWorkload(target, events, lanesPerHost, batchEvents) {
      const hostCount = target.pool.sessions.length;
      const { hosts, rolloutIds } = await open(
        target,
        rolloutsNeeded(events, hostCount, lanesPerHost, options.probeResults),
      );
      return buildBatchWorkload({
        hosts,
        rolloutIds,
        lanesPerHost,
        probeResults: options.probeResults,
        batchEvents,
      });
    },
    async workload(target, protocol, events, lanesPerHost, probeResults = options.probeResults) {
      const hostCount = target.pool.sessions.length;
      const { hosts, rolloutIds } = await open(
        target,
        rolloutsNeeded(events, hostCount, lanesPerHost, probeResults),
      );
      return buildWorkload({
        protocol,
        hosts,
        rolloutIds,
        lanesPerHost,
        probeResults,
        recycle: false,
      });
    },
  };
}

/** Opens one session per simulated host to a server. */
export async function connectTarget(
  server: ServerProcess,
  pki: BenchPki,
  hosts: number,
): Promise<Target> {
  const identities = Array.from({ length: hosts }, (_, i) => pki.agent(i));
  return { server, pool: await openSessions("127.0.0.1", server.port, pki.ca, identities) };
}

/** A short description of anything but clean answers, e.g. "shed 12, errors 3". */
export function anomalies(m: Measurement): string {
  const { shed, duplicate, error } = m.result.counts;
  const parts: string[] = [];
  if (shed > 0) parts.push(`shed ${shed}`);
  if (duplicate > 0) parts.push(`duplicate ${duplicate}`);
  if (error > 0) parts.push(`errors ${error}: ${m.result.errorSamples[0] ?? ""}`);
  if (m.result.dryHosts > 0) parts.push(`${m.result.dryHosts} hosts ran out of events`);
  if (m.result.unsent > 0) parts.push(`${m.result.unsent} not sent (driver backlog full)`);
  return parts.join("; ");
}

/** The batch size distribution as a table row. */
export function batchRow(label: string, b: BatchSummary | undefined): string[] {
  if (b === undefined) return [label, "n/a", "n/a", "n/a", ""];
  return [
    label,
    num(b.batches),
    num(b.events),
    num(b.meanSize, 1),
    b.shares.map((s) => `${s.range}: ${pct(s.share, 0)}`).join(", "),
  ];
}

/** The same server over the first `hosts` sessions only (not closed on its own). */
export function narrowTarget(target: Target, hosts: number): Target {
  const pool: SessionPool = {
    ...target.pool,
    sessions: target.pool.sessions.slice(0, hosts),
    close: async () => {},
  };
  return { server: target.server, pool };
}
