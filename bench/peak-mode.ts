// The default mode: closed-loop peak per protocol on nixfleet-cp and the baselines (run back to
// back per protocol so the noisy machine drifts as little as possible between them), at the
// default concurrency and at a low one; PostEvents batches beside single events; then
// open-loop latency at 50% and 90% of nixfleet-cp's peak, and the reducer's batch sizes.
import type { BenchPki } from "./bench-pki.js";
import type { BenchPostgres } from "./bench-postgres.js";
import type { TargetRow } from "./issue-targets.js";
import type { Workload } from "./load-driver.js";
import { type Measurement, measure } from "./measure.js";
import type { BenchOptions } from "./options.js";
import { renderPeakReport } from "./peak-report.js";
import { runPgBaseline } from "./pg-baseline.js";
import {
  anomalies,
  connectTarget,
  createRollouts,
  narrowTarget,
  type Target,
} from "./phase-helpers.js";
import { probePostEvents } from "./post-events-probe.js";
import { median, num, pct } from "./report.js";
import type { ServerProcess } from "./server-process.js";
import { SERVER_LABELS, type ServerKind, startBaseline, startNixfleet } from "./servers.js";
import type { Protocol } from "./wire-format.js";
import { buildWorkload } from "./workload.js";

/** A closed-loop concurrency of the peak table. */
export interface Concurrency {
  readonly name: "main" | "low";
  readonly hosts: number;
  readonly lanes: number;
}

/** One open-loop latency phase. */
export interface LatencyPhase {
  readonly protocol: Protocol;
  readonly peak: number;
  readonly share: number;
  readonly rate: number;
  readonly m: Measurement;
}

/** Everything the peak report prints. */
export interface PeakResults {
  readonly options: BenchOptions;
  readonly concurrencies: readonly Concurrency[];
  readonly kinds: readonly ServerKind[];
  /** Measurements by `${concurrency}/${protocol or "post-events"}/${kind}`, one per round. */
  readonly results: ReadonlyMap<string, readonly Measurement[]>;
  readonly latency: readonly LatencyPhase[];
  /** Why the PostEvents row is missing, when it is. */
  readonly postEventsSkipped: string | undefined;
  /** The raw pg baseline (--db postgres), at nixfleet-cp's batch size of the same run. */
  readonly pgBaseline: { batch: number; eventsPerSec: number; roundTrips: number } | undefined;
}

/** The median of `f` over the rounds of one series. */
export function med(
  results: PeakResults["results"],
  key: string,
  f: (m: Measurement) => number,
): number {
  return median((results.get(key) ?? []).map(f));
}

/** Runs the peak mode; returns its Markdown and its rows of issue 15's target table. */
export async function runPeakMode(
  options: BenchOptions,
  pki: BenchPki,
  log: (line: string) => void,
  postgres?: BenchPostgres,
): Promise<{ body: string; targets: TargetRow[] }> {
  const kinds: ServerKind[] = ["bare", "connect"];
  if (options.protocols.includes("grpc")) kinds.push("grpc-js");
  kinds.push("nixfleet-cp");
  const servers = {} as Record<ServerKind, ServerProcess>;
  for (const kind of kinds) {
    servers[kind] =
      kind === "nixfleet-cp"
        ? await startNixfleet(pki, {
            serverArgs: options.serverArgs,
            nodeArgs: options.serverNodeArgs,
            databaseUrl: await postgres?.freshDatabase(),
          })
        : await startBaseline(kind, pki, options.serverNodeArgs);
  }
  const targets = {} as Record<ServerKind, Target>;
  const concurrencies: Concurrency[] = [
    { name: "main", hosts: options.hosts, lanes: options.lanes },
  ];
  if (options.lowConcurrency !== undefined) {
    concurrencies.push({ name: "low", ...options.lowConcurrency });
  }
  const sessions = Math.max(...concurrencies.map((c) => c.hosts));
  for (const kind of kinds) targets[kind] = await connectTarget(servers[kind], pki, sessions);
  const rollouts = createRollouts(pki, options);
  const closed = {
    load: "closed" as const,
    warmupMs: options.warmupMs,
    durationMs: options.durationMs,
  };
  const results = new Map<string, Measurement[]>();
  const keep = (key: string, label: string, m: Measurement) => {
    results.set(key, [...(results.get(key) ?? []), m]);
    const delay = m.loopDelay === undefined ? "" : ` loop p99 ${num(m.loopDelay.p99Ms, 1)} ms`;
    log(
      `  ${key.padEnd(30)} ${label.padEnd(28)} ${num(m.okEventsPerSec || m.answeredPerSec).padStart(7)} /s ${num(m.cpuUsPerRequest).padStart(5)} µs CPU/req  driver ${num(m.result.driverCpuUsPerRequest)} µs/req${delay} ${anomalies(m)}`,
    );
  };

  let postEventsSkipped: string | undefined =
    options.batchEvents === 0
      ? "not measured (--batch-events 0)"
      : options.protocols.includes("connect-binary")
        ? await probePostEvents(targets["nixfleet-cp"].pool, pki.hosts[0] as string)
        : "not measured (needs connect-binary among --protocols)";
  if (postEventsSkipped !== undefined) log(`PostEvents: ${postEventsSkipped}`);

  try {
    for (let round = 1; round <= options.rounds; round++) {
      for (const c of concurrencies) {
        log(`round ${round}/${options.rounds}: closed loop, ${c.hosts} hosts × ${c.lanes} lanes`);
        for (const protocol of options.protocols) {
          // Baselines keep no state: a few sequences per host, recycled, are enough.
          const stateless = buildWorkload({
            protocol,
            hosts: pki.hosts.slice(0, c.hosts),
            rolloutIds: Array.from({ length: c.lanes + 1 }, (_, i) => `bench@ffff${i}`),
            lanesPerHost: c.lanes,
            probeResults: options.probeResults,
            recycle: true,
          });
          let fastest = 0;
          for (const kind of kinds) {
            if (kind === "nixfleet-cp") continue;
            if (kind === "connect" && protocol === "http-json") continue;
            if (kind === "grpc-js" && protocol !== "grpc") continue;
            const target = narrowTarget(targets[kind], c.hosts);
            const m = await measure(servers[kind], target.pool, stateless, closed);
            keep(`${c.name}/${protocol}/${kind}`, SERVER_LABELS[kind], m);
            fastest = Math.max(fastest, m.answeredPerSec);
          }
          // nixfleet-cp cannot outrun the fastest baseline; size its fresh rollouts from that,
          // or from twice its rate at the main concurrency when known: with few hosts every
          // rollout holds few events, and opening thousands would dwarf the measurement.
          const seconds = (options.warmupMs + options.durationMs) / 1000;
          const known = results.get(`main/${protocol}/nixfleet-cp`)?.at(-1)?.okPerSec;
          const expected = Math.min(fastest, c.name === "low" && known ? known * 2 : fastest);
          const cp = narrowTarget(targets["nixfleet-cp"], c.hosts);
          const work = await rollouts.workload(cp, protocol, expected * 1.2 * seconds, c.lanes);
          const single = await measure(servers["nixfleet-cp"], cp.pool, work, closed);
          keep(`${c.name}/${protocol}/nixfleet-cp`, "nixfleet-cp", single);
          if (protocol === "connect-binary" && c.name === "main" && !postEventsSkipped) {
            // A batch call should multiply the rate; room for 12× the single-event rate.
            // Calls in flight are bounded so their events fit the channel: beyond that the
            // service refuses whole calls by design, and the row would measure shedding.
            const events = Math.max(single.okPerSec * 12, 2000) * seconds;
            const callers = narrowTarget(targets["nixfleet-cp"], options.batchStreams);
            let batch: Workload;
            try {
              batch = await rollouts.batchWorkload(callers, events, 1, options.batchEvents);
            } catch (error) {
              postEventsSkipped = `not measured: ${(error as Error).message}`;
              continue;
            }
            const m = await measure(servers["nixfleet-cp"], callers.pool, batch, closed);
            keep(`${c.name}/post-events/nixfleet-cp`, `PostEvents × ${options.batchEvents}`, m);
          }
        }
      }
    }

    log("latency: open loop at 50% and 90% of nixfleet-cp's peak");
    const latencyLanes = options.lanes * 2;
    const latency: LatencyPhase[] = [];
    for (const protocol of options.protocols) {
      const peak = med(results, `main/${protocol}/nixfleet-cp`, (m) => m.okPerSec);
      for (const share of [0.5, 0.9]) {
        const rate = peak * share;
        if (!(rate > 0)) continue;
        const events = (rate * 1.1 * (options.warmupMs + options.latencyDurationMs)) / 1000;
        const target = narrowTarget(targets["nixfleet-cp"], options.hosts);
        const work = await rollouts.workload(target, protocol, events, latencyLanes);
        const m = await measure(target.server, target.pool, work, {
          load: { rate },
          warmupMs: options.warmupMs,
          durationMs: options.latencyDurationMs,
        });
        latency.push({ protocol, peak, share, rate, m });
        log(
          `  ${protocol.padEnd(14)} ${pct(share, 0).padStart(4)} of ${num(peak)} req/s: p50 ${num(m.p50Ms, 1)} ms p99 ${num(m.p99Ms, 1)} ms ${anomalies(m)}`,
        );
      }
    }

    let pgBaseline: PeakResults["pgBaseline"];
    if (postgres !== undefined && options.protocols.includes("connect-binary")) {
      // The same SQL work at the batch size nixfleet-cp formed at its peak, in the same run.
      const batch = Math.max(
        1,
        Math.round(
          med(results, "main/connect-binary/nixfleet-cp", (m) => m.batches?.meanSize ?? 1),
        ),
      );
      log(`raw pg baseline: batches of ${batch}`);
      pgBaseline = await runPgBaseline({
        url: await postgres.freshDatabase(),
        hosts: pki.hosts.slice(0, options.hosts),
        batch,
        probeResults: options.probeResults,
        durationMs: options.durationMs,
        rounds: options.rounds,
      });
      log(`  raw pg: ${num(pgBaseline.eventsPerSec)} events/s`);
    }

    return renderPeakReport({
      options,
      concurrencies,
      kinds,
      results,
      latency,
      postEventsSkipped,
      pgBaseline,
    });
  } finally {
    for (const kind of kinds) await targets[kind]?.pool.close();
    for (const kind of kinds) await servers[kind].stop();
  }
}
