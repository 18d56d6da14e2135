// --mode heartbeat: a fleet of --hosts agents (10,000 for the BENCHMARKS row) heartbeating
// over the JSON binding with the original agent's body, closed loop, against one nixfleet-cp
// whose records are all active (so every heartbeat looks for something to heal and answers a
// bootstrap snapshot); then PostEvent over the same sessions on the same server, so the two
// rates and CPU costs compare within one run.
import type { BenchPki } from "./bench-pki.js";
import type { Workload } from "./load-driver.js";
import { type Measurement, measure } from "./measure.js";
import { createRolloutIds, openRollouts } from "./open-rollouts.js";
import type { BenchOptions } from "./options.js";
import { anomalies, connectTarget, createRollouts } from "./phase-helpers.js";
import { median, num, ratio, table } from "./report.js";
import { startNixfleet } from "./servers.js";
import { encodeHeartbeat } from "./wire-format.js";

/** What the original agents send: one heartbeat per host per minute. */
const AGENT_INTERVAL_S = 60;

/** Runs the heartbeat mode and returns its Markdown. */
export async function runHeartbeatMode(
  options: BenchOptions,
  pki: BenchPki,
  log: (line: string) => void,
): Promise<string> {
  // Every host has one request in flight in a closed loop: the channel must hold the whole
  // fleet, or the run would measure shedding instead of throughput.
  const capacity = Math.max(1024, options.hosts * 2);
  const server = await startNixfleet(pki, {
    serverArgs: ["--channel-capacity", String(capacity), ...options.serverArgs],
    nodeArgs: options.serverNodeArgs,
  });
  log(`connecting ${options.hosts} agent sessions`);
  const target = await connectTarget(server, pki, options.hosts);
  const hosts = pki.hosts.slice(0, options.hosts);
  const fleetRollout = createRolloutIds("fleet")();
  await openRollouts({
    port: server.port,
    ca: pki.ca,
    operator: pki.operator,
    rolloutIds: [fleetRollout],
    hosts,
  });
  const beats: Workload = {
    protocol: "heartbeat",
    // The host reports a closure that is not the target: nothing heals, every lookup runs.
    sequences: hosts.map((host) => [[encodeHeartbeat(host, `0000-nixos-system-${host}-old`)]]),
    lanesPerHost: 1,
    recycle: true,
  };
  const plan = {
    load: "closed" as const,
    warmupMs: options.warmupMs,
    durationMs: options.durationMs,
  };
  const results: { kind: string; m: Measurement }[] = [];
  const rollouts = createRollouts(pki, options);
  try {
    for (let round = 0; round < options.rounds; round++) {
      log(`  round ${round + 1}: heartbeats`);
      results.push({ kind: "heartbeat", m: await measure(server, target.pool, beats, plan) });
      // Enough events for a rate well above what the service reaches here.
      const events = (20_000 * (options.warmupMs + options.durationMs)) / 1000;
      const work = await rollouts.workload(target, "http-json", events, 1);
      log(`  round ${round + 1}: PostEvent`);
      results.push({ kind: "PostEvent", m: await measure(server, target.pool, work, plan) });
    }
  } catch (error) {
    const state = server.alive() ? "still running" : "exited";
    throw new Error(`${(error as Error).message}; nixfleet-cp ${state}:\n${server.output()}`);
  }
  await target.pool.close();
  await server.stop();
  const med = (kind: string, pick: (m: Measurement) => number) =>
    median(results.filter((r) => r.kind === kind).map((r) => pick(r.m)));
  const beatRate = med("heartbeat", (m) => m.okPerSec);
  const eventRate = med("PostEvent", (m) => m.okPerSec);
  const fleetRate = options.hosts / AGENT_INTERVAL_S;
  const rows = results.map(({ kind, m }) => [
    kind,
    num(m.okPerSec),
    num(m.cpuUsPerOk),
    num(m.serverCores, 2),
    num(m.p50Ms, 1),
    num(m.p99Ms, 1),
    anomalies(m),
  ]);
  return [
    `${num(options.hosts)} hosts, one mTLS session each, closed loop (one request in flight per host), ` +
      `JSON binding, SQLite, --channel-capacity ${capacity}; each row ${num(options.durationMs / 1000)} s ` +
      `after ${num(options.warmupMs / 1000)} s warm-up, rounds alternate.`,
    "",
    table(
      ["wire", "ok/s", "server CPU µs per ok", "server cores", "p50 ms", "p99 ms", "anomalies"],
      rows,
    ),
    "",
    table(
      ["figure", "value"],
      [
        ["heartbeats/s (median)", num(beatRate)],
        ["PostEvent/s (median, same run, same sessions)", num(eventRate)],
        ["heartbeat / PostEvent rate", ratio(beatRate, eventRate)],
        ["server CPU µs per heartbeat (median)", num(med("heartbeat", (m) => m.cpuUsPerOk))],
        ["server CPU µs per PostEvent (median)", num(med("PostEvent", (m) => m.cpuUsPerOk))],
        [
          `the fleet's own load (${num(options.hosts)} hosts / ${AGENT_INTERVAL_S} s)`,
          `${num(fleetRate)} heartbeats/s = ${ratio(fleetRate, beatRate)} of capacity`,
        ],
      ],
    ),
  ].join("\n");
}
