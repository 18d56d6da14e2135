// `npm run bench -- [flags]`: ingest benchmarks of nixfleet-cp against baselines started by
// the same run. Progress goes to stderr, the Markdown report to stdout. See BENCHMARKS.md.
import { join, resolve } from "node:path";
import { ensureBenchPki } from "./bench-pki.js";
import { type BenchPostgres, startBenchPostgres } from "./bench-postgres.js";
import { runGrowthMode } from "./growth-mode.js";
import { runHeartbeatMode } from "./heartbeat-mode.js";
import { targetTable } from "./issue-targets.js";
import { type BenchOptions, parseBenchOptions, USAGE } from "./options.js";
import { runOverloadMode } from "./overload-mode.js";
import { runPeakMode } from "./peak-mode.js";
import { runProfileMode } from "./profile-mode.js";
import { runReplicasMode } from "./replicas-mode.js";
import { runHeader } from "./report.js";
import { cleanupTemp } from "./servers.js";

const TITLES: Record<BenchOptions["mode"], string> = {
  peak: "nixfleet-cp ingest benchmark: peak, cost per request, latency",
  overload: "nixfleet-cp ingest benchmark: overload",
  growth: "nixfleet-cp ingest benchmark: database growth",
  profile: "nixfleet-cp ingest benchmark: CPU profile of the hot path",
  heartbeat: "nixfleet-cp heartbeat benchmark: a fleet heartbeating, against PostEvent",
  targets: "nixfleet-cp ingest benchmark: issue 15 targets (peak, then overload on gRPC)",
  replicas: "nixfleet-cp on PostgreSQL: 2 replicas on one database against 1",
};

/** Modes that take --db postgres. */
const POSTGRES_MODES: readonly BenchOptions["mode"][] = [
  "peak",
  "overload",
  "growth",
  "profile",
  "targets",
  "replicas",
];

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
  if (options.db === "postgres" && !POSTGRES_MODES.includes(options.mode)) {
    throw new Error(`--db postgres is for the ${POSTGRES_MODES.join(", ")} modes`);
  }
  const postgres = options.db === "postgres" ? await startBenchPostgres(log) : undefined;
  let body: string;
  try {
    body = await runMode(options, pki, log, postgres);
  } finally {
    await postgres?.stop();
  }
  if (postgres !== undefined) body = `- store: ${postgres.description}\n\n${body}`;
  process.stdout.write(`${runHeader(TITLES[options.mode], argv)}\n\n${body}\n`);
  log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return 0;
}

async function runMode(
  options: BenchOptions,
  pki: Awaited<ReturnType<typeof ensureBenchPki>>,
  log: (line: string) => void,
  postgres: BenchPostgres | undefined,
): Promise<string> {
  switch (options.mode) {
    case "peak":
      return (await runPeakMode(options, pki, log, postgres)).body;
    case "overload":
      return (await runOverloadMode(options, pki, log, postgres)).body;
    case "growth":
      return runGrowthMode(options, pki, log, postgres);
    case "profile":
      return runProfileMode(options, pki, log, postgres);
    case "heartbeat":
      return runHeartbeatMode(options, pki, log);
    case "replicas":
      if (postgres === undefined) throw new Error("--mode replicas needs --db postgres");
      return runReplicasMode(options, pki, log, postgres);
    case "targets": {
      // Issue 15's whole table from one command: the peak mode, then gRPC past saturation.
      const peak = await runPeakMode(options, pki, log, postgres);
      log("overload on gRPC");
      const overload = options.protocols.includes("grpc")
        ? await runOverloadMode({ ...options, protocols: ["grpc"] }, pki, log, postgres)
        : { body: "", targets: [] };
      return [
        peak.body,
        "",
        "## Overload on gRPC",
        "",
        overload.body,
        "",
        "## Issue 15 targets (every figure from this run)",
        "",
        targetTable([...peak.targets, ...overload.targets]),
      ].join("\n");
    }
  }
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
