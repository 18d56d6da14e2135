// The default mode: closed-loop peak per protocol on nixfleet-cp and both baselines (run back
// to back per protocol so the noisy machine drifts as little as possible between them), then
// open-loop latency at 50% and 90% of nixfleet-cp's peak, and the reducer's batch sizes.
import type { BatchSummary } from "./batch-histogram.js";
import type { BenchPki } from "./bench-pki.js";
import { eventsPerLane } from "./event-sequence.js";
import { openSessions, type SessionPool, type Workload } from "./load-driver.js";
import { type Measurement, measure } from "./measure.js";
import { createRolloutIds, openRollouts } from "./open-rollouts.js";
import type { BenchOptions } from "./options.js";
import { median, num, pct, ratio, table } from "./report.js";
import type { ServerProcess } from "./server-process.js";
import { SERVER_LABELS, type ServerKind, startBaseline, startNixfleet } from "./servers.js";
import type { Protocol } from "./wire-format.js";
import { buildWorkload, rolloutsNeeded } from "./workload.js";

interface Target {
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
}

/** Creates the rollout opener for a run: ids never repeat, so nothing is a duplicate. */
export function createRollouts(pki: BenchPki, options: BenchOptions): Rollouts {
  const nextId = createRolloutIds();
  return {
    async workload(target, protocol, events, lanesPerHost, probeResults = options.probeResults) {
      const hosts = pki.hosts.slice(0, target.pool.sessions.length);
      const count = rolloutsNeeded(events, hosts.length, lanesPerHost, probeResults);
      const rolloutIds = Array.from({ length: count }, nextId);
      await openRollouts({
        port: target.server.port,
        ca: pki.ca,
        operator: pki.operator,
        rolloutIds,
        hosts,
      });
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

/** Runs the peak mode and returns the Markdown it printed. */
export async function runPeakMode(
  options: BenchOptions,
  pki: BenchPki,
  log: (line: string) => void,
): Promise<string> {
  const kinds: readonly ServerKind[] = ["bare", "connect", "nixfleet-cp"];
  const servers = {
    bare: await startBaseline("bare", pki, options.serverNodeArgs),
    connect: await startBaseline("connect", pki, options.serverNodeArgs),
    "nixfleet-cp": await startNixfleet(pki, {
      serverArgs: options.serverArgs,
      nodeArgs: options.serverNodeArgs,
    }),
  };
  const targets = {} as Record<ServerKind, Target>;
  for (const kind of kinds) targets[kind] = await connectTarget(servers[kind], pki, options.hosts);
  const rollouts = createRollouts(pki, options);
  const closed = {
    load: "closed" as const,
    warmupMs: options.warmupMs,
    durationMs: options.durationMs,
  };
  const results = new Map<string, Measurement[]>();
  const keep = (protocol: Protocol, kind: ServerKind, m: Measurement) => {
    const key = `${protocol}/${kind}`;
    results.set(key, [...(results.get(key) ?? []), m]);
    log(
      `  ${protocol.padEnd(14)} ${SERVER_LABELS[kind].padEnd(28)} ${num(m.answeredPerSec).padStart(7)} req/s ${num(m.cpuUsPerRequest).padStart(5)} µs CPU/req  driver ${num(m.result.driverCpuUsPerRequest)} µs/req ${anomalies(m)}`,
    );
  };

  try {
    for (let round = 1; round <= options.rounds; round++) {
      log(
        `round ${round}/${options.rounds}: closed loop, ${options.hosts} hosts × ${options.lanes} lanes`,
      );
      for (const protocol of options.protocols) {
        // Baselines keep no state: a few sequences per host, recycled, are enough.
        const stateless = buildWorkload({
          protocol,
          hosts: pki.hosts.slice(0, options.hosts),
          rolloutIds: Array.from({ length: options.lanes + 1 }, (_, i) => `bench@ffff${i}`),
          lanesPerHost: options.lanes,
          probeResults: options.probeResults,
          recycle: true,
        });
        const bare = await measure(servers.bare, targets.bare.pool, stateless, closed);
        keep(protocol, "bare", bare);
        if (protocol !== "http-json") {
          keep(
            protocol,
            "connect",
            await measure(servers.connect, targets.connect.pool, stateless, closed),
          );
        }
        // nixfleet-cp cannot outrun the bare server; size its fresh rollouts from that.
        const events = (bare.answeredPerSec * 1.2 * (options.warmupMs + options.durationMs)) / 1000;
        const work = await rollouts.workload(
          targets["nixfleet-cp"],
          protocol,
          events,
          options.lanes,
        );
        keep(
          protocol,
          "nixfleet-cp",
          await measure(servers["nixfleet-cp"], targets["nixfleet-cp"].pool, work, closed),
        );
      }
    }

    const med = (protocol: Protocol, kind: ServerKind, f: (m: Measurement) => number) =>
      median((results.get(`${protocol}/${kind}`) ?? []).map(f));

    log("latency: open loop at 50% and 90% of nixfleet-cp's peak");
    const latencyLanes = options.lanes * 2;
    const latency: {
      protocol: Protocol;
      peak: number;
      share: number;
      rate: number;
      m: Measurement;
    }[] = [];
    for (const protocol of options.protocols) {
      const peak = med(protocol, "nixfleet-cp", (m) => m.okPerSec);
      for (const share of [0.5, 0.9]) {
        const rate = peak * share;
        if (!(rate > 0)) continue;
        const events = (rate * 1.1 * (options.warmupMs + options.latencyDurationMs)) / 1000;
        const target = targets["nixfleet-cp"];
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

    const lines: string[] = [];
    lines.push(
      `### Throughput and server CPU per request (closed loop: ${options.hosts} hosts × ${options.lanes} lanes = ${options.hosts * options.lanes} concurrent streams; ${eventsPerLane(options.probeResults)} events per host and rollout; ${num(options.durationMs / 1000, 1)} s windows${options.rounds > 1 ? `; median of ${options.rounds} rounds` : ""})`,
      "",
    );
    const rows: string[][] = [];
    for (const protocol of options.protocols) {
      for (const kind of kinds) {
        const all = results.get(`${protocol}/${kind}`);
        if (all === undefined) continue;
        const m = all[all.length - 1] as Measurement;
        rows.push([
          protocol,
          SERVER_LABELS[kind],
          num(med(protocol, kind, (x) => x.answeredPerSec)),
          num(med(protocol, kind, (x) => x.cpuUsPerRequest)),
          num(
            med(protocol, kind, (x) => x.serverCores),
            2,
          ),
          num(med(protocol, kind, (x) => x.result.driverCpuUsPerRequest)),
          anomalies(m) || "none",
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
          "non-ok answers",
        ],
        rows,
      ),
      "",
      "### nixfleet-cp ÷ baseline, same run",
      "",
    );
    const ratioRows = options.protocols.map((protocol) => {
      const cp = (f: (m: Measurement) => number) => med(protocol, "nixfleet-cp", f);
      const base = (kind: ServerKind, f: (m: Measurement) => number) => med(protocol, kind, f);
      const rps = (m: Measurement) => m.okPerSec;
      const cpu = (m: Measurement) => m.cpuUsPerRequest;
      return [
        protocol,
        ratio(
          cp(rps),
          base("bare", (m) => m.answeredPerSec),
        ),
        ratio(
          cp(rps),
          base("connect", (m) => m.answeredPerSec),
        ),
        ratio(cp(cpu), base("bare", cpu)),
        ratio(cp(cpu), base("connect", cpu)),
      ];
    });
    lines.push(
      table(
        [
          "protocol",
          "req/s ÷ bare",
          "req/s ÷ connect-node",
          "CPU/req ÷ bare",
          "CPU/req ÷ connect-node",
        ],
        ratioRows,
      ),
      "",
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
          "notes",
        ],
        latency.map(({ protocol, peak, share, rate, m }) => [
          protocol,
          num(peak),
          `${pct(share, 0)} of peak`,
          num(rate),
          ratio(m.okPerSec, rate),
          num(m.p50Ms, 1),
          num(m.p99Ms, 1),
          anomalies(m) || "none",
        ]),
      ),
      "",
      "### nixfleet-cp reducer batch sizes (events per transaction, from nixfleet_cp_reducer_batch_size; warm-up included)",
      "",
      table(
        ["phase", "batches (raw)", "events (raw)", "mean size (raw)", "share of batches by size"],
        [
          ...options.protocols.map((protocol) => {
            const all = results.get(`${protocol}/nixfleet-cp`) ?? [];
            return batchRow(`${protocol} peak`, all[all.length - 1]?.batches);
          }),
          ...latency.map(({ protocol, share, m }) =>
            batchRow(`${protocol} at ${pct(share, 0)}`, m.batches),
          ),
        ],
      ),
      "",
      "### Targets of issue 7",
      "",
    );
    const targetRows: string[][] = [];
    if (options.protocols.includes("connect-binary")) {
      const r =
        med("connect-binary", "nixfleet-cp", (m) => m.okPerSec) /
        med("connect-binary", "connect", (m) => m.answeredPerSec);
      targetRows.push([
        "Connect binary, durable: ≥ 0.85 × empty connect-node handler (req/s)",
        num(r, 2),
        r >= 0.85 ? "met" : "missed",
      ]);
    }
    if (options.protocols.includes("http-json")) {
      const r =
        med("http-json", "nixfleet-cp", (m) => m.okPerSec) /
        med("http-json", "bare", (m) => m.answeredPerSec);
      targetRows.push([
        "HTTP JSON binding, durable: ≥ 0.5 × bare node:http2 (req/s)",
        num(r, 2),
        r >= 0.5 ? "met" : "missed",
      ]);
    }
    lines.push(table(["target", "measured ratio", "verdict"], targetRows));
    return lines.join("\n");
  } finally {
    for (const kind of kinds) await targets[kind]?.pool.close();
    for (const kind of kinds) await servers[kind].stop();
  }
}
