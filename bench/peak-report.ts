// The peak mode's Markdown: throughput and CPU per concurrency, ratios against the same run's
// baselines, PostEvents against single events, latency, batch sizes, the raw pg baseline, and
// the rows of issue 15's target table this mode measures.
import { atLeast, atMostMs, type TargetRow, targetTable } from "./issue-targets.js";
import type { Measurement } from "./measure.js";
import { type Concurrency, med, type PeakResults } from "./peak-mode.js";
import { anomalies, batchRow } from "./phase-helpers.js";
import { num, pct, ratio, table } from "./report.js";
import { SERVER_LABELS } from "./servers.js";

const rps = (m: Measurement) => m.answeredPerSec;
const okps = (m: Measurement) => m.okPerSec;
const cpu = (m: Measurement) => m.cpuUsPerRequest;
const loopP99 = (m: Measurement) => m.loopDelay?.p99Ms ?? Number.NaN;
const loopMax = (m: Measurement) => m.loopDelay?.maxMs ?? Number.NaN;

function streams(c: Concurrency): string {
  return `${c.hosts} hosts × ${c.lanes} lanes = ${c.hosts * c.lanes} concurrent streams`;
}

/** Renders the report and the target rows. */
export function renderPeakReport(r: PeakResults): { body: string; targets: TargetRow[] } {
  const { options, results } = r;
  const m = (key: string, f: (x: Measurement) => number) => med(results, key, f);
  const rounds = options.rounds > 1 ? `; median of ${options.rounds} rounds` : "";
  const lines: string[] = [];
  for (const c of r.concurrencies) {
    lines.push(
      `### Throughput and server CPU per request (closed loop: ${streams(c)}; ${num(options.durationMs / 1000, 1)} s windows${rounds})`,
      "",
    );
    const rows: string[][] = [];
    for (const protocol of options.protocols) {
      for (const kind of r.kinds) {
        const key = `${c.name}/${protocol}/${kind}`;
        const all = results.get(key);
        if (all === undefined) continue;
        rows.push([
          protocol,
          SERVER_LABELS[kind],
          num(m(key, rps)),
          num(m(key, cpu)),
          num(
            m(key, (x) => x.serverCores),
            2,
          ),
          num(m(key, (x) => x.result.driverCpuUsPerRequest)),
          kind === "nixfleet-cp" ? `${num(m(key, loopP99), 1)} / ${num(m(key, loopMax), 1)}` : "",
          anomalies(all[all.length - 1] as Measurement) || "none",
        ]);
      }
    }
    lines.push(
      table(
        [
          "protocol",
          "server",
          "req/s (raw)",
          "server CPU µs/req (raw)",
          "server cores busy (raw)",
          "driver CPU µs/req (raw)",
          "event-loop delay p99 / max ms (raw)",
          "non-ok answers",
        ],
        rows,
      ),
      "",
      `#### nixfleet-cp ÷ baseline, same run (${c.hosts * c.lanes} streams; gRPC-js is the gRPC row's server, the reference for every RPC protocol)`,
      "",
      table(
        [
          "protocol",
          "req/s ÷ bare",
          "req/s ÷ connect-node",
          "req/s ÷ grpc-js",
          "CPU/req ÷ bare",
          "CPU/req ÷ connect-node",
          "CPU/req ÷ grpc-js",
        ],
        options.protocols.map((protocol) => {
          const cp = `${c.name}/${protocol}/nixfleet-cp`;
          const base = (kind: string) => `${c.name}/${protocol}/${kind}`;
          const grpcJs = `${c.name}/grpc/grpc-js`;
          const rpc = protocol !== "http-json";
          return [
            protocol,
            ratio(m(cp, okps), m(base("bare"), rps)),
            ratio(m(cp, okps), m(base("connect"), rps)),
            rpc ? ratio(m(cp, okps), m(grpcJs, rps)) : "n/a",
            ratio(m(cp, cpu), m(base("bare"), cpu)),
            ratio(m(cp, cpu), m(base("connect"), cpu)),
            rpc ? ratio(m(cp, cpu), m(grpcJs, cpu)) : "n/a",
          ];
        }),
      ),
      "",
    );
  }

  const single = "main/connect-binary/nixfleet-cp";
  const batched = "main/post-events/nixfleet-cp";
  const batchFactor = m(batched, (x) => x.okEventsPerSec) / m(single, okps);
  lines.push(
    `### PostEvents: ${options.batchEvents} events per call against single-event PostEvent (Connect binary, nixfleet-cp; single events on ${streams(r.concurrencies[0] as Concurrency)}, PostEvents on ${options.batchStreams} hosts × 1 call = ${options.batchStreams * options.batchEvents} events in flight${rounds})`,
    "",
  );
  if (results.has(batched)) {
    lines.push(
      table(
        [
          "RPC",
          "events applied/s (raw)",
          "calls/s (raw)",
          "server CPU µs/event (raw)",
          "event-loop delay p99 / max ms (raw)",
          "events/s ÷ single-event",
          "non-ok",
        ],
        [single, batched].map((key) => [
          key === single ? "PostEvent" : `PostEvents × ${options.batchEvents}`,
          num(m(key, (x) => x.okEventsPerSec)),
          num(m(key, rps)),
          num(m(key, (x) => x.cpuUsPerOkEvent)),
          `${num(m(key, loopP99), 1)} / ${num(m(key, loopMax), 1)}`,
          key === single ? "1.00" : num(batchFactor, 2),
          anomalies((results.get(key) ?? []).at(-1) as Measurement) || "none",
        ]),
      ),
      "",
    );
  } else lines.push(`PostEvents ${r.postEventsSkipped ?? "not measured"}.`, "");

  const latencyLanes = options.lanes * 2;
  lines.push(
    `### nixfleet-cp latency at a fixed offered load (open loop, ${options.hosts} hosts × up to ${latencyLanes} lanes; latency from the scheduled send time; ${num(options.latencyDurationMs / 1000, 1)} s windows)`,
    "",
    table(
      [
        "protocol",
        "peak ok/s (raw)",
        "offered",
        "offered req/s (raw)",
        "ok ÷ offered",
        "p50 ms (raw)",
        "p99 ms (raw)",
        "event-loop delay p99 / max ms (raw)",
        "notes",
      ],
      r.latency.map(({ protocol, peak, share, rate, m: x }) => [
        protocol,
        num(peak),
        `${pct(share, 0)} of peak`,
        num(rate),
        ratio(x.okPerSec, rate),
        num(x.p50Ms, 1),
        num(x.p99Ms, 1),
        `${num(loopP99(x), 1)} / ${num(loopMax(x), 1)}`,
        anomalies(x) || "none",
      ]),
    ),
    "",
    "### nixfleet-cp reducer batch sizes (events per transaction, from nixfleet_cp_reducer_batch_size; warm-up included)",
    "",
    table(
      ["phase", "batches (raw)", "events (raw)", "mean size (raw)", "share of batches by size"],
      [
        ...r.concurrencies.flatMap((c) =>
          [...options.protocols, "post-events"].flatMap((protocol) => {
            const all = results.get(`${c.name}/${protocol}/nixfleet-cp`);
            if (all === undefined) return [];
            return [
              batchRow(`${protocol} peak, ${c.hosts * c.lanes} streams`, all.at(-1)?.batches),
            ];
          }),
        ),
        ...r.latency.map(({ protocol, share, m: x }) =>
          batchRow(`${protocol} at ${pct(share, 0)}`, x.batches),
        ),
      ],
    ),
    "",
  );

  if (r.pgBaseline !== undefined) {
    const b = r.pgBaseline;
    lines.push(
      "### PostgreSQL: nixfleet-cp against raw `pg` doing the same SQL work",
      "",
      `Raw \`pg\` baseline: one client in the bench process, no HTTP and no state machine, applying the same events (same rows, same payloads) in transactions of ${num(b.batch)} events (nixfleet-cp's mean batch at its Connect binary peak in this run) with the writer's ${b.roundTrips} round trips per batch (begin, lock-and-load the records, update them, insert the events returning ids, commit), one batch after another like the reducer.`,
      "",
      table(
        ["writer", "events/s (raw)", "÷ raw pg"],
        [
          ["raw pg, same SQL work", num(b.eventsPerSec), "1.00"],
          [
            "nixfleet-cp, Connect binary peak",
            num(m(single, okps)),
            ratio(m(single, okps), b.eventsPerSec),
          ],
          ...(results.has(batched)
            ? [
                [
                  `nixfleet-cp, PostEvents × ${options.batchEvents}`,
                  num(m(batched, (x) => x.okEventsPerSec)),
                  ratio(
                    m(batched, (x) => x.okEventsPerSec),
                    b.eventsPerSec,
                  ),
                ],
              ]
            : []),
        ],
      ),
      "",
    );
  }

  const targets = peakTargets(r, m);
  lines.push("### Issue 15 targets measured by this mode", "", targetTable(targets));
  return { body: lines.join("\n"), targets };
}

function peakTargets(r: PeakResults, m: (key: string, f: (x: Measurement) => number) => number) {
  const { options } = r;
  const has = (p: string) => options.protocols.includes(p as never);
  const low = r.concurrencies.find((c) => c.name === "low");
  const lowStreams =
    low === undefined ? "" : `${low.hosts * low.lanes} streams (${low.hosts} × ${low.lanes})`;
  const mainStreams = `${options.hosts * options.lanes} streams (${options.hosts} × ${options.lanes})`;
  const rows: TargetRow[] = [];
  const label = { main: mainStreams, low: lowStreams };
  // [figure, nixfleet-cp's protocol, baseline protocol/kind, concurrency, bound]
  const ratios: [string, string, string, "main" | "low", number][] = [
    ["durable gRPC PostEvent ÷ grpc-js empty handler", "grpc", "grpc/grpc-js", "low", 0.5],
    [
      "durable Connect binary ÷ grpc-js empty handler",
      "connect-binary",
      "grpc/grpc-js",
      "low",
      0.6,
    ],
    [
      "Connect binary ÷ empty connect-node",
      "connect-binary",
      "connect-binary/connect",
      "main",
      1.2,
    ],
    ["Connect binary ÷ empty connect-node", "connect-binary", "connect-binary/connect", "low", 1.0],
    ["binding ÷ bare node:http2", "http-json", "http-json/bare", "main", 0.6],
    ["binding ÷ bare node:http2", "http-json", "http-json/bare", "low", 0.5],
  ];
  for (const [figure, protocol, base, c, bound] of ratios) {
    if (!has(protocol) || !has(base.split("/")[0] as string)) continue;
    if (c === "low" && low === undefined) continue;
    const value = m(`${c}/${protocol}/nixfleet-cp`, okps) / m(`${c}/${base}`, rps);
    rows.push(atLeast(`${figure}, ${label[c]}`, value, bound));
  }
  for (const [share, bound] of [
    [0.5, 20],
    [0.9, 100],
  ] as const) {
    const phase = r.latency.find((l) => l.protocol === "connect-binary" && l.share === share);
    if (phase !== undefined || has("connect-binary")) {
      rows.push(
        atMostMs(
          `Connect binary p99 at ${pct(share, 0)} of peak`,
          phase?.m.p99Ms ?? Number.NaN,
          bound,
        ),
      );
    }
  }
  // The worst protocol's loop delay at its closed-loop peak (median over rounds).
  const delays = options.protocols.map((p) => ({
    p,
    v: m(`main/${p}/nixfleet-cp`, loopP99),
  }));
  const worst = delays
    .filter((d) => Number.isFinite(d.v))
    .reduce((a, b) => (!(a.v >= b.v) ? b : a), { p: "", v: Number.NaN });
  rows.push(
    atMostMs(
      `event-loop delay p99 at peak, ${mainStreams} (worst protocol)`,
      Number.isFinite(worst.v) ? worst.v : Number.NaN,
      5,
      Number.isFinite(worst.v)
        ? `${worst.p}; ${delays.map((d) => `${d.p} ${num(d.v, 1)}`).join(", ")}`
        : "the server exports no nixfleet_cp_event_loop_delay_seconds",
    ),
  );
  if (has("connect-binary")) {
    rows.push(
      atLeast(
        `PostEvents ${options.batchEvents}/call events/s ÷ single Connect binary req/s`,
        m("main/post-events/nixfleet-cp", (x) => x.okEventsPerSec) /
          m("main/connect-binary/nixfleet-cp", okps),
        5,
        r.postEventsSkipped ?? "",
      ),
    );
  }
  return rows;
}
