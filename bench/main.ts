// `npm run bench -- [flags]`: ingest benchmarks of nixfleet-cp against baselines started by
// the same run. Progress goes to stderr, the Markdown report to stdout. See BENCHMARKS.md.
import { join, resolve } from "node:path";
import { ensureBenchPki } from "./bench-pki.js";
import { runGrowthMode } from "./growth-mode.js";
import { runHeartbeatMode } from "./heartbeat-mode.js";
import { type BenchOptions, parseBenchOptions, USAGE } from "./options.js";
import { runOverloadMode } from "./overload-mode.js";
import { runPeakMode } from "./peak-mode.js";
import { runProfileMode } from "./profile-mode.js";
import { runHeader } from "./report.js";
import { cleanupTemp } from "./servers.js";

const TITLES: Record<BenchOptions["mode"], string> = {
  peak: "nixfleet-cp ingest benchmark: peak, cost per request, latency",
  overload: "nixfleet-cp ingest benchmark: overload",
  growth: "nixfleet-cp ingest benchmark: database growth",
  profile: "nixfleet-cp ingest benchmark: CPU profile of the hot path",
  heartbeat: "nixfleet-cp heartbeat benchmark: a fleet heartbeating, against PostEvent",
};

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let options: BenchOptions | "help";
  try {
    options = parseBenchOptions(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options === "help") {
    process.stdout.write(USAGE);
    return 0;
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const started = performance.now();
  const hostsNeeded = Math.max(options.hosts, 1);
  log(
    `certificates for ${hostsNeeded} hosts in ${options.stateDir}/pki (issued once, then cached)`,
  );
  const pki = await ensureBenchPki(join(resolve(options.stateDir), "pki"), hostsNeeded);
  let body: string;
  switch (options.mode) {
    case "peak":
      body = await runPeakMode(options, pki, log);
      break;
    case "overload":
      body = await runOverloadMode(options, pki, log);
      break;
    case "growth":
      body = await runGrowthMode(options, pki, log);
      break;
    case "profile":
      body = await runProfileMode(options, pki, log);
      break;
    case "heartbeat":
      body = await runHeartbeatMode(options, pki, log);
      break;
  }
  process.stdout.write(`${runHeader(TITLES[options.mode], argv)}\n\n${body}\n`);
  log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return 0;
}

// The bench owns child processes and temp dirs: whatever happens, leave none behind.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    cleanupTemp();
    process.exit(130);
  });
}
main().then(
  (code) => {
    cleanupTemp();
    process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    cleanupTemp();
    process.exit(1);
  },
);
