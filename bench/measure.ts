// One measured phase against one server: the driver's counts and latencies joined with the
// server's own CPU time over exactly the same window, and its batch sizes when it reports them.
import {
  type BatchSummary,
  histogramDelta,
  type LoopDelay,
  parseHistogram,
  parseLoopDelay,
  scrapeMetrics,
  summarizeBatches,
} from "./batch-histogram.js";
import {
  type PhasePlan,
  type PhaseResult,
  quantile,
  runPhase,
  type Workload,
} from "./load-driver.js";
import type { ServerProcess } from "./server-process.js";
import type { SessionPool } from "./session-pool.js";

/** A phase's figures. Rates and times are raw numbers from this machine. */
export interface Measurement {
  readonly result: PhaseResult;
  /** Answers of any kind per second in the window. */
  readonly answeredPerSec: number;
  /** ok answers per second in the window (goodput). */
  readonly okPerSec: number;
  /** Events applied per second: okPerSec, except for PostEvents (per-event verdicts). */
  readonly okEventsPerSec: number;
  /** Server CPU per applied event, microseconds. */
  readonly cpuUsPerOkEvent: number;
  /** Server CPU (user + system, all threads) per answered request, microseconds. */
  readonly cpuUsPerRequest: number;
  /** Server CPU per ok answer (per event applied), microseconds. */
  readonly cpuUsPerOk: number;
  /** Share of the window the server was on a CPU (1 = one core fully busy). */
  readonly serverCores: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** p99 of ok answers from the actual send (without waiting for a free lane in the driver). */
  readonly serviceP99Ms: number;
  /** Reducer batches of the phase (warm-up included); nixfleet-cp only. */
  readonly batches: BatchSummary | undefined;
  /** The server's event-loop delay over the measured window; nixfleet-cp only. */
  readonly loopDelay: LoopDelay | undefined;
}

const BATCH_SIZES = "nixfleet_cp_reducer_batch_size";

/** Runs `plan` against `server` and measures it. */
export async function measure(
  server: ServerProcess,
  pool: SessionPool,
  workload: Workload,
  plan: Omit<PhasePlan, "onWindowStart" | "onWindowEnd">,
): Promise<Measurement> {
  const port = server.metricsPort;
  const before = port === undefined ? undefined : await scrapeMetrics(port);
  let cpuStart = 0;
  let cpuEnd = 0;
  // The loop-delay gauges reset at every scrape: one at the window's start throws away the
  // warm-up, the one at its end reads exactly the window.
  let windowStartScrape: Promise<unknown> | undefined;
  let windowEndScrape: Promise<string> | undefined;
  const result = await runPhase(pool, workload, {
    ...plan,
    onWindowStart: () => {
      cpuStart = server.cpuMicros();
      if (port !== undefined) windowStartScrape = scrapeMetrics(port).catch(() => "");
    },
    onWindowEnd: () => {
      cpuEnd = server.cpuMicros();
      if (port !== undefined) {
        windowEndScrape = (windowStartScrape ?? Promise.resolve()).then(() => scrapeMetrics(port));
      }
    },
  });
  const windowText = await windowEndScrape;
  const after = port === undefined ? undefined : await scrapeMetrics(port);
  const { ok, shed, duplicate, error } = result.counts;
  const answered = ok + shed + duplicate + error;
  const seconds = result.windowMs / 1000;
  const cpu = cpuEnd - cpuStart;
  return {
    result,
    answeredPerSec: answered / seconds,
    okPerSec: ok / seconds,
    okEventsPerSec: result.eventCounts.ok / seconds,
    cpuUsPerOkEvent: result.eventCounts.ok > 0 ? cpu / result.eventCounts.ok : Number.NaN,
    cpuUsPerRequest: answered > 0 ? cpu / answered : Number.NaN,
    cpuUsPerOk: ok > 0 ? cpu / ok : Number.NaN,
    serverCores: cpu / 1e6 / seconds,
    p50Ms: quantile(result.okLatencies, 0.5),
    p99Ms: quantile(result.okLatencies, 0.99),
    serviceP99Ms: quantile(result.okServiceLatencies, 0.99),
    batches:
      before === undefined || after === undefined
        ? undefined
        : summarizeBatches(
            histogramDelta(parseHistogram(before, BATCH_SIZES), parseHistogram(after, BATCH_SIZES)),
          ),
    loopDelay: windowText === undefined ? undefined : parseLoopDelay(windowText),
  };
}
