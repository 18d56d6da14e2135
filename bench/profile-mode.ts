// --mode profile: nixfleet-cp under `node --cpu-prof` at closed-loop peak, then the self time
// of its main thread by owner and by function. The raw profile is kept for DevTools.
import { copyFileSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { BenchPki } from "./bench-pki.js";
import { summarizeProfile } from "./cpu-profile.js";
import { measure } from "./measure.js";
import type { BenchOptions } from "./options.js";
import { anomalies, connectTarget, createRollouts } from "./peak-mode.js";
import { num, pct, table } from "./report.js";
import { makeTempDir, startNixfleet } from "./servers.js";

const MAX_EXPECTED_RATE = 15_000;

/** Runs the profile mode and returns its Markdown. */
export async function runProfileMode(
  options: BenchOptions,
  pki: BenchPki,
  log: (line: string) => void,
): Promise<string> {
  const profileDir = makeTempDir();
  const server = await startNixfleet(pki, {
    serverArgs: options.serverArgs,
    nodeArgs: ["--cpu-prof", "--cpu-prof-dir", profileDir],
  });
  const target = await connectTarget(server, pki, options.hosts);
  const rollouts = createRollouts(pki, options);
  const perProtocol = options.profileDurationMs / options.protocols.length;
  const loads: string[][] = [];
  try {
    for (const protocol of options.protocols) {
      const events = (MAX_EXPECTED_RATE * perProtocol) / 1000;
      const work = await rollouts.workload(target, protocol, events, options.lanes);
      const m = await measure(server, target.pool, work, {
        load: "closed",
        warmupMs: 0,
        durationMs: perProtocol,
      });
      loads.push([protocol, num(m.okPerSec), num(m.cpuUsPerRequest), anomalies(m) || "none"]);
      log(`  ${protocol.padEnd(14)} ${num(m.okPerSec)} ok/s under the profiler`);
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
    `nixfleet-cp-${new Date().toISOString().replace(/[:.]/g, "-")}.cpuprofile`,
  );
  copyFileSync(main, kept);
  const summary = summarizeProfile(main, 30);
  return [
    `### Load under the profiler (closed loop, ${options.hosts} hosts × ${options.lanes} lanes; profiling slows the server, so these rates are not comparable with the peak table)`,
    "",
    table(["protocol", "ok/s (raw)", "server CPU µs/req (raw)", "notes"], loads),
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
