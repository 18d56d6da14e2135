// --mode profile: nixfleet-cp under `node --cpu-prof` at closed-loop peak, then the self time
// of its main thread by owner and by function. The raw profile is kept for DevTools.
import { copyFileSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { BenchPki } from "./bench-pki.js";
import type { BenchPostgres } from "./bench-postgres.js";
import { summarizeProfile } from "./cpu-profile.js";
import { measure } from "./measure.js";
import type { BenchOptions } from "./options.js";
import { anomalies, connectTarget, createRollouts } from "./phase-helpers.js";
import { num, pct, table } from "./report.js";
import { makeTempDir, SERVER_LABELS, startBaseline, startNixfleet } from "./servers.js";
import { buildWorkload } from "./workload.js";

const MAX_EXPECTED_RATE = 15_000;

/** Runs the profile mode and returns its Markdown. */
export async function runProfileMode(
  options: BenchOptions,
  pki: BenchPki,
  log: (line: string) => void,
  postgres?: BenchPostgres,
): Promise<string> {
  const profileDir = makeTempDir();
  const nodeArgs = [...options.serverNodeArgs, "--cpu-prof", "--cpu-prof-dir", profileDir];
  const which = options.profileServer;
  const server =
    which === "nixfleet-cp"
      ? await startNixfleet(pki, {
          serverArgs: options.serverArgs,
          nodeArgs,
          databaseUrl: await postgres?.freshDatabase(),
        })
      : await startBaseline(which, pki, nodeArgs);
  const target = await connectTarget(server, pki, options.hosts);
  const rollouts = createRollouts(pki, options);
  const perProtocol = options.profileDurationMs / options.protocols.length;
  const loads: string[][] = [];
  try {
    for (const protocol of options.protocols) {
      const phases: { label: string; ms: number; rate?: number; lanes: number }[] =
        options.profileLoad === "closed"
          ? [{ label: "closed loop", ms: perProtocol, lanes: options.lanes }]
          : [{ label: "closed loop", ms: perProtocol / 2, lanes: options.lanes }];
      for (let i = 0; i < phases.length; i++) {
        const phase = phases[i] as (typeof phases)[number];
        const events = ((phase.rate ?? MAX_EXPECTED_RATE) * phase.ms) / 1000;
        // Baselines keep no state: a few recycled sequences per host do.
        const work =
          which === "nixfleet-cp"
            ? await rollouts.workload(target, protocol, events, phase.lanes)
            : buildWorkload({
                protocol,
                hosts: pki.hosts.slice(0, options.hosts),
                rolloutIds: Array.from({ length: phase.lanes + 1 }, (_, k) => `bench@ffff${k}`),
                lanesPerHost: phase.lanes,
                probeResults: options.probeResults,
                recycle: true,
              });
        const m = await measure(server, target.pool, work, {
          load: phase.rate === undefined ? "closed" : { rate: phase.rate },
          warmupMs: 0,
          durationMs: phase.ms,
        });
        loads.push([
          protocol,
          phase.label,
          num(m.okPerSec),
          num(m.answeredPerSec),
          num(m.cpuUsPerRequest),
          anomalies(m) || "none",
        ]);
        log(`  ${protocol.padEnd(14)} ${phase.label}: ${num(m.okPerSec)} ok/s under the profiler`);
        if (options.profileLoad === "overload" && phase.rate === undefined) {
          const rate = m.okPerSec * options.overloadFactor;
          phases.push({
            label: `open loop at ${options.overloadFactor}× (${num(rate)} req/s)`,
            ms: perProtocol / 2,
            rate,
            lanes: options.overloadLanes,
          });
        }
      }
    }
  } finally {
    await target.pool.close();
    // A graceful exit is what makes node write the profile.
    await server.stop();
  }
  // One file per thread; the main thread's is the busiest one.
  const files = readdirSync(profileDir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => join(profileDir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size);
  const main = files[0];
  if (main === undefined) throw new Error(`no .cpuprofile written:\n${server.output()}`);
  const keptDir = join(resolve(options.stateDir), "profiles");
  mkdirSync(keptDir, { recursive: true });
  const kept = join(
    keptDir,
    `${which}-${new Date().toISOString().replace(/[:.]/g, "-")}.cpuprofile`,
  );
  copyFileSync(main, kept);
  const summary = summarizeProfile(main, 30);
  return [
    `### ${SERVER_LABELS[which]} under the profiler (${options.hosts} hosts; profiling slows the server, so these rates are not comparable with the peak table)`,
    "",
    table(
      ["protocol", "load", "ok/s (raw)", "answered/s (raw)", "server CPU µs/req (raw)", "notes"],
      loads,
    ),
    "",
    `### Self time of the main thread by owner (${num(summary.busyMicros / 1000)} ms sampled, idle excluded; startup and rollout opening included)`,
    "",
    table(
      ["owner", "share of busy time", "ms (raw)"],
      summary.owners.map((o) => [o.name, pct(o.share), num(o.micros / 1000)]),
    ),
    "",
    "### Top functions by self time",
    "",
    table(
      ["function (file:line)", "share of busy time", "ms (raw)"],
      summary.functions.map((f) => [f.name, pct(f.share), num(f.micros / 1000)]),
    ),
    "",
    `Profile kept at \`${kept}\` (open it in Chrome DevTools → Performance).`,
  ].join("\n");
}
