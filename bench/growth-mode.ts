// --mode growth: does an event cost more CPU when the database holds 100× more host records?
// Each size gets a fresh nixfleet-cp whose database is padded with idle Pending records, then
// the same driven rollouts; server CPU per applied event is compared between the sizes.
import type { BenchPki } from "./bench-pki.js";
import type { BenchPostgres } from "./bench-postgres.js";
import { eventsPerLane } from "./event-sequence.js";
import { type Measurement, measure } from "./measure.js";
import { createRolloutIds, openRollouts } from "./open-rollouts.js";
import type { BenchOptions } from "./options.js";
import { anomalies, connectTarget } from "./phase-helpers.js";
import { median, num, table } from "./report.js";
import { startNixfleet } from "./servers.js";
import { buildWorkload } from "./workload.js";

const FILLER_PER_ROLLOUT = 1000;

interface GrowthRun {
  readonly records: number;
  readonly measured: Measurement;
  readonly fillMs: number;
}

/** Runs the growth mode and returns its Markdown. */
export async function runGrowthMode(
  options: BenchOptions,
  pki: BenchPki,
  log: (line: string) => void,
  postgres?: BenchPostgres,
): Promise<string> {
  const protocol = options.protocols[0] ?? "connect-binary";
  // The driven records are part of the small database: hosts × rollouts ≤ growthSmall.
  const hosts = Math.min(options.hosts, Math.floor(options.growthSmall / 2));
  const drivenRollouts = Math.max(2, Math.floor(options.growthSmall / hosts));
  const driven = hosts * drivenRollouts;
  const lanes = Math.min(options.lanes, drivenRollouts - 1);
  const nextId = createRolloutIds();
  const runs: GrowthRun[] = [];
  const order: number[] = [];
  for (let r = 0; r < options.growthRepeats; r++) {
    // Alternate small/large and large/small so drift on a shared machine favours neither.
    order.push(
      ...(r % 2 === 0
        ? [options.growthSmall, options.growthLarge]
        : [options.growthLarge, options.growthSmall]),
    );
  }
  for (const records of order) {
    const server = await startNixfleet(pki, {
      serverArgs: options.serverArgs,
      nodeArgs: options.serverNodeArgs,
      databaseUrl: await postgres?.freshDatabase(),
    });
    const target = await connectTarget(server, pki, hosts);
    try {
      const fillStarted = performance.now();
      const filler = Math.max(0, records - driven);
      // One call (one operator connection) per rollout size: a connection per rollout left
      // a hundred open, and the service's per-peer bound (64) reset the rest.
      const full = Math.floor(filler / FILLER_PER_ROLLOUT);
      for (const [count, n] of [
        [full, FILLER_PER_ROLLOUT],
        [filler > full * FILLER_PER_ROLLOUT ? 1 : 0, filler - full * FILLER_PER_ROLLOUT],
      ] as const) {
        if (count === 0) continue;
        await openRollouts({
          port: server.port,
          ca: pki.ca,
          operator: pki.operator,
          rolloutIds: Array.from({ length: count }, nextId),
          hosts: Array.from({ length: n }, (_, k) => `idle-${String(k).padStart(5, "0")}`),
        });
      }
      const fillMs = performance.now() - fillStarted;
      const hostNames = pki.hosts.slice(0, hosts);
      const ids = Array.from({ length: drivenRollouts }, nextId);
      await openRollouts({
        port: server.port,
        ca: pki.ca,
        operator: pki.operator,
        rolloutIds: ids,
        hosts: hostNames,
      });
      const build = (rolloutIds: readonly string[]) =>
        buildWorkload({
          protocol,
          hosts: hostNames,
          rolloutIds,
          lanesPerHost: lanes,
          probeResults: options.growthProbeResults,
          recycle: false,
        });
      // The first rollout warms the fresh process (JIT, caches) and is not measured.
      const warm = build(ids.slice(0, 1));
      await measure(
        server,
        target.pool,
        { ...warm, lanesPerHost: 1 },
        {
          load: "closed",
          warmupMs: 0,
          durationMs: Number.POSITIVE_INFINITY,
        },
      );
      const measured = await measure(server, target.pool, build(ids.slice(1)), {
        load: "closed",
        warmupMs: 0,
        durationMs: Number.POSITIVE_INFINITY,
      });
      runs.push({ records, measured, fillMs });
      log(
        `  ${num(records).padStart(7)} records: ${num(measured.okPerSec)} ok/s, ${num(measured.cpuUsPerOk)} µs CPU/event (filled in ${num(fillMs / 1000, 1)} s) ${anomalies(measured)}`,
      );
    } finally {
      await target.pool.close();
      await server.stop();
    }
  }

  // Runs come in adjacent small/large pairs (alternating order): the ratio within a pair
  // shares the machine's background load, so the median of pair ratios is the figure.
  const pairRatios: number[] = [];
  const pairOk: number[] = [];
  for (let i = 0; i + 1 < runs.length; i += 2) {
    const [a, b] = [runs[i] as GrowthRun, runs[i + 1] as GrowthRun];
    const [small, large] = a.records === options.growthSmall ? [a, b] : [b, a];
    pairRatios.push(large.measured.cpuUsPerOk / small.measured.cpuUsPerOk);
    pairOk.push(large.measured.okPerSec / small.measured.okPerSec);
  }
  const cpuRatio = median(pairRatios);
  const perLane = eventsPerLane(options.growthProbeResults);
  return [
    `### Growth: the same driven load with ${num(options.growthSmall)} and with ${num(options.growthLarge)} host records in the database (${protocol}, closed loop, ${hosts} hosts × ${lanes} lanes; ${num(hosts * (drivenRollouts - 1))} measured lanes of ${perLane} events each after one unmeasured warm-up rollout; idle records are Pending hosts of other rollouts)`,
    "",
    table(
      [
        "host records",
        "events measured (raw)",
        "ok/s (raw)",
        "server CPU µs/event (raw)",
        "mean batch (raw)",
        "notes",
      ],
      runs.map((r) => [
        num(r.records),
        num(r.measured.result.counts.ok),
        num(r.measured.okPerSec),
        num(r.measured.cpuUsPerOk),
        num(r.measured.batches?.meanSize, 1),
        anomalies(r.measured) || "none",
      ]),
    ),
    "",
    table(
      ["figure", "value", "target", "verdict"],
      [
        [
          `server CPU per event, ${num(options.growthLarge)} ÷ ${num(options.growthSmall)} records (median of ${pairRatios.length} pairs: ${pairRatios.map((r) => num(r, 2)).join(", ")})`,
          num(cpuRatio, 2),
          "≤ 1.10",
          cpuRatio <= 1.1 ? "met" : "missed",
        ],
        [
          `ok/s, ${num(options.growthLarge)} ÷ ${num(options.growthSmall)} records (median of pairs)`,
          num(median(pairOk), 2),
          "",
          "",
        ],
      ],
    ),
  ].join("\n");
}
