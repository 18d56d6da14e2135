// The flags of `npm run bench -- [flags]`, with defaults sized so the default run of each mode
// finishes in a few minutes on a 2-core machine; every duration can be lengthened.
import { parseArgs } from "node:util";
import { PROTOCOLS, type Protocol } from "./wire-format.js";

/** What to measure. */
export type Mode =
  | "peak"
  | "overload"
  | "growth"
  | "profile"
  | "heartbeat"
  | "targets"
  | "replicas";

const MODES: readonly Mode[] = [
  "peak",
  "overload",
  "growth",
  "profile",
  "heartbeat",
  "targets",
  "replicas",
];

/** Every setting of a bench run. */
export interface BenchOptions {
  readonly mode: Mode;
  readonly protocols: readonly Protocol[];
  /** Simulated hosts: one TLS session and one agent certificate each. */
  readonly hosts: number;
  /** Concurrent lanes (rollouts, HTTP/2 streams) per host in closed-loop phases. */
  readonly lanes: number;
  /** The peak table's second, low-concurrency row (hosts × lanes); undefined: not measured. */
  readonly lowConcurrency: { readonly hosts: number; readonly lanes: number } | undefined;
  /** Events per PostEvents call in the peak mode's batch row; 0: not measured. */
  readonly batchEvents: number;
  /** PostEvents calls in flight (one host each) in the batch row. */
  readonly batchStreams: number;
  /** Where nixfleet-cp keeps its state: a temp SQLite file, or a fresh PostgreSQL database. */
  readonly db: "sqlite" | "postgres";
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly latencyDurationMs: number;
  /** Repetitions of the peak table; medians are printed when more than one. */
  readonly rounds: number;
  readonly probeResults: number;
  readonly overloadFactor: number;
  readonly overloadDurationMs: number;
  readonly overloadLanes: number;
  readonly growthSmall: number;
  readonly growthLarge: number;
  readonly growthProbeResults: number;
  readonly growthRepeats: number;
  readonly profileDurationMs: number;
  /** closed: closed-loop peak; overload: half at peak, half at overloadFactor × that peak. */
  readonly profileLoad: "closed" | "overload";
  /** Which server --mode profile runs under the profiler. */
  readonly profileServer: "nixfleet-cp" | "connect" | "bare" | "grpc-js";
  /** Where certificates are cached between runs. */
  readonly stateDir: string;
  /** Extra flags for `nixfleet-cp serve`, e.g. --batch-size 512. */
  readonly serverArgs: readonly string[];
  /** Extra node flags for every server process (nixfleet-cp and baselines alike). */
  readonly serverNodeArgs: readonly string[];
}

/** `--help` text. */
export const USAGE = `npm run bench -- [flags]

  --mode MODE             what to measure (default peak): peak, overload, growth, profile,
                          heartbeat (--hosts agents heartbeating vs PostEvent, same run),
                          targets (peak, then overload on gRPC: issue 15's target table),
                          replicas (PostgreSQL: 2 nixfleet-cp on one database against 1,
                          then an exactly-once check of what was acknowledged)
  --protocols LIST        comma-separated: connect-binary,connect-json,grpc,http-json (default all)
  --hosts N               simulated hosts = TLS sessions = agent certificates (default 256)
  --lanes N               concurrent rollouts (HTTP/2 streams) per host, closed loop (default 2)
  --low-concurrency HxL   the peak table's second row: H hosts × L lanes (default 8x8 = 64
                          streams over 8 sessions); "none" to skip it
  --batch-events N        events per PostEvents call in the peak mode's batch row (default 32;
                          0 to skip; skipped with a note when the server lacks the RPC)
  --batch-streams N       PostEvents calls in flight, one per host (default 32: 32 × 32 events
                          fill the service's default channel of 1,024; more is shed by design)
  --db sqlite|postgres    nixfleet-cp's store (default sqlite). postgres: a fresh database per
                          server on NIXFLEET_CP_BENCH_PG (a superuser URL) or, unset, on an
                          embedded PostgreSQL 17 from node_modules; adds the raw pg baseline
  --warmup MS             unmeasured warm-up before each window (default 1000)
  --duration MS           measured window of each throughput phase (default 3000)
  --latency-duration MS   window of each latency phase at 50% / 90% of peak (default 4000)
  --rounds N              interleaved repetitions of the peak table, medians printed (default 3)
  --probe-results N       ProbeResult events per host and rollout (default 3)
  --overload-factor X     offered load as a multiple of the measured peak (default 2)
  --overload-duration MS  measured window at that load (default 10000)
  --overload-lanes N      lanes per host in overload, enough to keep the offer open (default 16)
  --growth-small N        host records in the small database (default 1000)
  --growth-large N        host records in the large database (default 100000)
  --growth-probe-results N  ProbeResults per lane in growth runs (default 16)
  --growth-repeats N      small/large pairs, alternated (default 3)
  --profile-duration MS   load time under --cpu-prof (default 15000)
  --profile-load KIND     closed, or overload: then half the time at --overload-factor × peak
  --profile-server NAME   nixfleet-cp, connect, bare or grpc-js (gRPC only): which server to
                          profile (default nixfleet-cp)
  --state-dir DIR         certificate cache (default .bench)
  --server-arg FLAG       extra flag for nixfleet-cp serve (repeatable)
  --server-node-arg FLAG  extra node flag for every server process (repeatable), e.g.
                          --server-node-arg=--max-semi-space-size=32
`;

function int(text: string | undefined, name: string, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected an integer >= ${min}`);
  return n;
}

function lowConcurrency(text: string | undefined): BenchOptions["lowConcurrency"] {
  if (text === "none") return undefined;
  const m = /^(\d+)x(\d+)$/.exec(text ?? "8x8");
  const hosts = Number(m?.[1]);
  const lanes = Number(m?.[2]);
  if (m === null || !(hosts >= 1) || !(lanes >= 1)) {
    throw new Error(`--low-concurrency: expected HOSTSxLANES (e.g. 8x8) or none, got "${text}"`);
  }
  return { hosts, lanes };
}

function profileServer(text: string | undefined): BenchOptions["profileServer"] {
  const name = text ?? "nixfleet-cp";
  if (name !== "nixfleet-cp" && name !== "connect" && name !== "bare" && name !== "grpc-js") {
    throw new Error(
      `--profile-server: expected nixfleet-cp, connect, bare or grpc-js, got "${name}"`,
    );
  }
  return name;
}

function profileLoad(text: string | undefined): BenchOptions["profileLoad"] {
  const load = text ?? "closed";
  if (load !== "closed" && load !== "overload") {
    throw new Error(`--profile-load: expected closed or overload, got "${load}"`);
  }
  return load;
}

/** Parses argv; throws with a message naming the bad flag. */
export function parseBenchOptions(argv: readonly string[]): BenchOptions | "help" {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      help: { type: "boolean" },
      mode: { type: "string" },
      protocols: { type: "string" },
      hosts: { type: "string" },
      lanes: { type: "string" },
      "low-concurrency": { type: "string" },
      "batch-events": { type: "string" },
      "batch-streams": { type: "string" },
      db: { type: "string" },
      warmup: { type: "string" },
      duration: { type: "string" },
      "latency-duration": { type: "string" },
      rounds: { type: "string" },
      "probe-results": { type: "string" },
      "overload-factor": { type: "string" },
      "overload-duration": { type: "string" },
      "overload-lanes": { type: "string" },
      "growth-small": { type: "string" },
      "growth-large": { type: "string" },
      "growth-probe-results": { type: "string" },
      "growth-repeats": { type: "string" },
      "profile-duration": { type: "string" },
      "profile-server": { type: "string" },
      "profile-load": { type: "string" },
      "state-dir": { type: "string" },
      "server-arg": { type: "string", multiple: true },
      "server-node-arg": { type: "string", multiple: true },
    },
  });
  if (values.help) return "help";
  const mode = (values.mode ?? "peak") as Mode;
  if (!MODES.includes(mode)) {
    throw new Error(`--mode: expected one of ${MODES.join(", ")}, got "${mode}"`);
  }
  const db = values.db ?? (mode === "replicas" ? "postgres" : "sqlite");
  if (db !== "sqlite" && db !== "postgres") {
    throw new Error(`--db: expected sqlite or postgres, got "${db}"`);
  }
  if (mode === "replicas" && db !== "postgres")
    throw new Error("--mode replicas needs --db postgres");
  const protocols = (values.protocols?.split(",") ?? [...PROTOCOLS]).map((p) => p.trim());
  for (const p of protocols) {
    if (!(PROTOCOLS as readonly string[]).includes(p)) throw new Error(`unknown protocol "${p}"`);
  }
  const factor = Number(values["overload-factor"] ?? 2);
  if (!(factor > 0)) throw new Error("--overload-factor: expected a positive number");
  const options: BenchOptions = {
    mode,
    protocols: protocols as Protocol[],
    hosts: int(values.hosts, "hosts", 256),
    lanes: int(values.lanes, "lanes", 2),
    lowConcurrency: lowConcurrency(values["low-concurrency"]),
    batchEvents: int(values["batch-events"], "batch-events", 32, 0),
    batchStreams: int(values["batch-streams"], "batch-streams", 32),
    db,
    warmupMs: int(values.warmup, "warmup", 1000, 0),
    durationMs: int(values.duration, "duration", 3000, 500),
    latencyDurationMs: int(values["latency-duration"], "latency-duration", 4000, 500),
    rounds: int(values.rounds, "rounds", 3),
    probeResults: int(values["probe-results"], "probe-results", 3, 0),
    overloadFactor: factor,
    overloadDurationMs: int(values["overload-duration"], "overload-duration", 10_000, 1000),
    overloadLanes: int(values["overload-lanes"], "overload-lanes", 16),
    growthSmall: int(values["growth-small"], "growth-small", 1000),
    growthLarge: int(values["growth-large"], "growth-large", 100_000),
    growthProbeResults: int(values["growth-probe-results"], "growth-probe-results", 16, 0),
    growthRepeats: int(values["growth-repeats"], "growth-repeats", 3),
    profileDurationMs: int(values["profile-duration"], "profile-duration", 15_000, 1000),
    profileServer: profileServer(values["profile-server"]),
    profileLoad: profileLoad(values["profile-load"]),
    stateDir: values["state-dir"] ?? ".bench",
    serverArgs: values["server-arg"] ?? [],
    serverNodeArgs: values["server-node-arg"] ?? [],
  };
  if (options.growthLarge < options.growthSmall) {
    throw new Error("--growth-large must be at least --growth-small");
  }
  return options;
}
