// --mode overload: per protocol, a fresh nixfleet-cp; its closed-loop peak, then an open-loop
// offer of factor × that peak. Past saturation the service must shed with resource_exhausted /
// 503 and keep committing at about its peak, with no other error and bounded memory.
import type { BenchPki } from "./bench-pki.js";
import type { BenchPostgres } from "./bench-postgres.js";
import { atLeast, type TargetRow, targetTable } from "./issue-targets.js";
import type { Measurement } from "./measure.js";
import { measure } from "./measure.js";
import type { BenchOptions } from "./options.js";
import { anomalies, batchRow, connectTarget, createRollouts } from "./phase-helpers.js";
import { num, pct, ratio, table } from "./report.js";
import { startNixfleet } from "./servers.js";
import type { Protocol } from "./wire-format.js";

const MB = 1024 * 1024;
const MAX_EXPECTED_RATE = 15_000;

interface OverloadRow {
  readonly protocol: Protocol;
  readonly peak: Measurement;
  readonly over: Measurement;
  readonly offered: number;
  readonly rssBefore: number;
  readonly rssMid: number;
  readonly rssMax: number;
  readonly rssEnd: number;
  readonly hwm: number;
  readonly alive: boolean;
}

/** Runs the overload mode; returns its Markdown and its row of issue 15's target table. */
export async function runOverloadMode(
  options: BenchOptions,
  pki: BenchPki,
  log: (line: string) => void,
  postgres?: BenchPostgres,
): Promise<{ body: string; targets: TargetRow[] }> {
  const rollouts = createRollouts(pki, options);
  const rows: OverloadRow[] = [];
  for (const protocol of options.protocols) {
    // A fresh process per protocol, so each row's peak RSS is its own.
    const server = await startNixfleet(pki, {
      serverArgs: options.serverArgs,
      nodeArgs: options.serverNodeArgs,
      databaseUrl: await postgres?.freshDatabase(),
    });
    const target = await connectTarget(server, pki, options.hosts);
    try {
      // Events for the closed-loop peak: sized for a rate well above anything nixfleet-cp
      // reaches on 2 cores; a host that still runs dry is reported, not hidden.
      // The peak phase's 1 s warm-up is too short for a process that just started (JIT,
      // SQLite caches): run it once unmeasured first, so the peak is not a cold one.
      const warmMs = Math.max(3000, options.warmupMs);
      const closedEvents =
        (MAX_EXPECTED_RATE * (warmMs + options.warmupMs + options.durationMs)) / 1000;
      const peakWork = await rollouts.workload(target, protocol, closedEvents, options.lanes);
      const peak = await measure(server, target.pool, peakWork, {
        load: "closed",
        warmupMs: warmMs + options.warmupMs,
        durationMs: options.durationMs,
      });
      const offered = peak.okPerSec * options.overloadFactor;
      log(
        `  ${protocol.padEnd(14)} peak ${num(peak.okPerSec)} ok/s; offering ${num(offered)} req/s for ${num(options.overloadDurationMs / 1000)} s`,
      );
      // Shed requests are retried with the same seq, so only accepted ones use up events.
      const events = (peak.okPerSec * 1.5 * (options.warmupMs + options.overloadDurationMs)) / 1000;
      const work = await rollouts.workload(target, protocol, events, options.overloadLanes);
      const rssBefore = server.memory().rss;
      let rssMax = rssBefore;
      let rssMid = Number.NaN;
      const sampler = setInterval(() => {
        if (server.alive()) rssMax = Math.max(rssMax, server.memory().rss);
      }, 250);
      // RSS half-way through the window against RSS at its end: a plateau, not a climb.
      const midTimer = setTimeout(
        () => {
          if (server.alive()) rssMid = server.memory().rss;
        },
        options.warmupMs + options.overloadDurationMs / 2,
      );
      const over = await measure(server, target.pool, work, {
        load: { rate: offered },
        warmupMs: options.warmupMs,
        durationMs: options.overloadDurationMs,
      });
      clearInterval(sampler);
      clearTimeout(midTimer);
      const alive = server.alive();
      const memory = alive ? server.memory() : { rss: Number.NaN, peak: Number.NaN };
      rows.push({
        protocol,
        peak,
        over,
        offered,
        rssBefore,
        rssMid,
        rssMax,
        rssEnd: memory.rss,
        hwm: memory.peak,
        alive,
      });
      log(
        `  ${protocol.padEnd(14)} goodput ${ratio(over.okPerSec, peak.okPerSec)} of peak, shed ${pct(over.result.counts.shed / Math.max(1, over.result.sent))}, p99 ok ${num(over.p99Ms)} ms, VmHWM ${num(memory.peak / MB)} MB ${anomalies(over)}`,
      );
    } finally {
      await target.pool.close();
      await server.stop();
    }
  }

  const answered = (m: Measurement) => {
    const c = m.result.counts;
    return c.ok + c.shed + c.duplicate + c.error;
  };
  const targets = rows
    .filter((r) => r.protocol === "grpc")
    .map((r) =>
      atLeast(
        `gRPC goodput at ${options.overloadFactor}× peak ÷ peak`,
        r.over.okPerSec / r.peak.okPerSec,
        0.8,
        r.alive ? "" : "the server died",
      ),
    );
  const body = [
    `### Overload: ${options.overloadFactor}× the measured peak, open loop (${options.hosts} hosts × up to ${options.overloadLanes} lanes; shed events are re-sent with the same seq; ${num(options.overloadDurationMs / 1000)} s window after ${num(options.warmupMs / 1000, 1)} s warm-up)`,
    "",
    table(
      [
        "protocol",
        "peak ok/s (raw)",
        "offered req/s (raw)",
        "goodput ÷ peak",
        "shed (resource_exhausted / 503) ÷ answered",
        "p50 / p99 ok ms from schedule (raw)",
        "p99 ok ms from send (raw)",
        "other errors (raw count)",
        "server alive",
        "RSS before / mid-window / end / max MB (raw)",
        "VmHWM MB (raw)",
      ],
      rows.map((r) => [
        r.protocol,
        num(r.peak.okPerSec),
        num(r.offered),
        ratio(r.over.okPerSec, r.peak.okPerSec),
        pct(r.over.result.counts.shed / Math.max(1, answered(r.over))),
        `${num(r.over.p50Ms)} / ${num(r.over.p99Ms)}`,
        num(r.over.serviceP99Ms),
        num(r.over.result.counts.error + r.over.result.counts.duplicate),
        r.alive ? "yes" : "NO",
        `${num(r.rssBefore / MB)} / ${num(r.rssMid / MB)} / ${num(r.rssEnd / MB)} / ${num(r.rssMax / MB)}`,
        num(r.hwm / MB),
      ]),
    ),
    "",
    "Driver side of the overload windows (raw): answered req/s, requests that waited for a free lane, and the driver's CPU.",
    "",
    table(
      [
        "protocol",
        "answered req/s (raw)",
        "max driver backlog (raw)",
        "unsent (raw)",
        "driver CPU µs/req (raw)",
        "notes",
      ],
      rows.map((r) => [
        r.protocol,
        num(r.over.answeredPerSec),
        num(r.over.result.maxBacklog),
        num(r.over.result.unsent),
        num(r.over.result.driverCpuUsPerRequest),
        anomalies(r.over) || "none",
      ]),
    ),
    "",
    "Reducer batch sizes in overload:",
    "",
    table(
      ["phase", "batches (raw)", "events (raw)", "mean size (raw)", "share of batches by size"],
      rows.map((r) => batchRow(`${r.protocol} overload`, r.over.batches)),
    ),
    "",
    "### Target of issue 7",
    "",
    table(
      ["protocol", "goodput ≥ 0.8 × peak", "no crash", "no error but backpressure"],
      rows.map((r) => {
        const g = r.over.okPerSec / r.peak.okPerSec;
        return [
          r.protocol,
          `${num(g, 2)}: ${g >= 0.8 ? "met" : "missed"}`,
          r.alive ? "met" : "missed",
          r.over.result.counts.error + r.over.result.counts.duplicate === 0 ? "met" : "missed",
        ];
      }),
    ),
    ...(targets.length > 0 ? ["", "### Issue 15 target", "", targetTable(targets)] : []),
  ].join("\n");
  return { body, targets };
}
