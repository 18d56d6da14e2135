// The reducer's batch sizes as the service itself counts them: the nixfleet_cp_reducer_batch_size
// histogram scraped from the plain /metrics listener before and after a phase.
import { get } from "node:http";

/** A cumulative Prometheus histogram: le bound to count, plus sum and count. */
export interface Histogram {
  readonly buckets: ReadonlyMap<number, number>;
  readonly sum: number;
  readonly count: number;
}

const NAME = "nixfleet_cp_reducer_batch_size";

/** Fetches /metrics from 127.0.0.1:`port` and reads the batch size histogram. */
export async function scrapeBatchSizes(port: number): Promise<Histogram> {
  return parseHistogram(await scrapeMetrics(port), NAME);
}

/** The Prometheus text of 127.0.0.1:`port`/metrics. */
export function scrapeMetrics(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    // A fresh connection per scrape: node's default agent keeps sockets alive, and reusing one
    // the server is closing after its keep-alive timeout fails the run with "socket hang up".
    get({ host: "127.0.0.1", port, path: "/metrics", agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      res.on("end", () => resolve(text));
      res.on("error", reject);
    }).on("error", reject);
  });
}

/** The event-loop delay since the previous scrape, milliseconds. */
export interface LoopDelay {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

const LOOP_DELAY = "nixfleet_cp_event_loop_delay_seconds";

/** Reads nixfleet_cp_event_loop_delay_seconds; undefined when the server does not export it. */
export function parseLoopDelay(text: string): LoopDelay | undefined {
  const at = (quantile: string) => {
    const m = new RegExp(
      `^${LOOP_DELAY}\\{quantile="${quantile.replace(".", "\\.")}"\\}\\s+(\\S+)`,
      "m",
    ).exec(text);
    return m === null ? undefined : Number(m[1]) * 1000;
  };
  const p50Ms = at("0.5");
  const p99Ms = at("0.99");
  const maxMs = at("1");
  if (p50Ms === undefined || p99Ms === undefined || maxMs === undefined) return undefined;
  return { p50Ms, p99Ms, maxMs };
}

/** Reads one unlabelled histogram from Prometheus text. */
export function parseHistogram(text: string, name: string): Histogram {
  const buckets = new Map<number, number>();
  let sum = 0;
  let count = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}_bucket{`)) {
      const m = /le="([^"]+)"\}\s+(\S+)/.exec(line);
      if (m) buckets.set(m[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[1]), Number(m[2]));
    } else if (line.startsWith(`${name}_sum `)) sum = Number(line.slice(name.length + 5));
    else if (line.startsWith(`${name}_count `)) count = Number(line.slice(name.length + 7));
  }
  return { buckets, sum, count };
}

/** after − before: the batches of one phase. */
export function histogramDelta(before: Histogram, after: Histogram): Histogram {
  const buckets = new Map<number, number>();
  for (const [le, n] of after.buckets) buckets.set(le, n - (before.buckets.get(le) ?? 0));
  return { buckets, sum: after.sum - before.sum, count: after.count - before.count };
}

/** Batch size summary: mean, and the bucket bound holding the median event (not batch). */
export interface BatchSummary {
  readonly batches: number;
  readonly events: number;
  readonly meanSize: number;
  /** Share of batches per size range, e.g. "≤8" → 0.25. */
  readonly shares: readonly { readonly range: string; readonly share: number }[];
}

/** Summarizes a (delta) histogram into per-range shares of batches. */
export function summarizeBatches(h: Histogram): BatchSummary {
  const bounds = [...h.buckets.keys()].sort((a, b) => a - b);
  const shares: { range: string; share: number }[] = [];
  let previous = 0;
  let previousBound = 0;
  for (const le of bounds) {
    const cumulative = h.buckets.get(le) ?? 0;
    const n = cumulative - previous;
    if (n > 0 && h.count > 0) {
      const range =
        le === Number.POSITIVE_INFINITY
          ? `>${previousBound}`
          : previousBound + 1 === le
            ? `${le}`
            : `${previousBound + 1}-${le}`;
      shares.push({ range, share: n / h.count });
    }
    previous = cumulative;
    previousBound = le;
  }
  return {
    batches: h.count,
    events: h.sum,
    meanSize: h.count > 0 ? h.sum / h.count : Number.NaN,
    shares,
  };
}
