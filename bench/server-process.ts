// A server under test in its own process: spawned, awaited until it logs its port, measured
// through /proc (its own CPU and memory accounting, not the driver's guess), and stopped.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";

/** A running server process. */
export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  /** The plain-HTTP /metrics port, when the server has one. */
  readonly metricsPort: number | undefined;
  /** User + system CPU time of the whole process (every thread) so far, microseconds. */
  cpuMicros(): number;
  /** Resident memory now and at its peak (VmRSS, VmHWM), bytes. */
  memory(): { rss: number; peak: number };
  /** Whether the process is still running (it has not crashed or exited). */
  alive(): boolean;
  /** Everything the process printed, for error reports. */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    } catch {
      ticksPerSecond = 100;
    }
    if (!Number.isFinite(ticksPerSecond) || ticksPerSecond <= 0) ticksPerSecond = 100;
  }
  return ticksPerSecond;
}

/** utime + stime of a process from /proc/<pid>/stat, in microseconds. */
export function processCpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces; fields are counted after its closing paren.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1e6) / clockTicks();
}

/** VmRSS and VmHWM of a process, bytes. */
export function processMemory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  return { rss: kb("VmRSS") * 1024, peak: kb("VmHWM") * 1024 };
}

/** What to run and how to find its port in its JSON log lines. */
export interface SpawnSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** The log line that carries "port" (and optionally "metricsPort"). */
  readonly readyMessage: string;
  /** Where the process's stdout and stderr go. */
  readonly logPath: string;
  readonly startTimeoutMs?: number;
}

const live = new Set<ChildProcess>();

/** Kills every server still running: the bench's last resort on an error or a signal. */
export function killAllServers(): void {
  for (const child of live) child.kill("SIGKILL");
}

/**
 * Spawns a server and waits until it logs `readyMessage`. Its output goes to `logPath`, not a
 * pipe: a pipe the bench stopped reading would block a server that logs synchronously, and
 * reading one would spend the driver's CPU on the server's log lines.
 */
export async function spawnServer(spec: SpawnSpec): Promise<ServerProcess> {
  const fd = openSync(spec.logPath, "w");
  const child = spawn(spec.command, [...spec.args], {
    stdio: ["ignore", fd, fd],
    env: spec.env ?? process.env,
    cwd: spec.cwd ?? process.cwd(),
  });
  closeSync(fd);
  live.add(child);
  const output = () => {
    try {
      return readFileSync(spec.logPath, "utf8").slice(-64 * 1024);
    } catch {
      return "";
    }
  };
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      live.delete(child);
      resolve();
    });
  });
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + (spec.startTimeoutMs ?? 60_000);
  let ready: { port: number; metricsPort: number | undefined } | undefined;
  while (ready === undefined) {
    if (gone) throw new Error(`${spec.name} exited before listening:\n${output()}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${spec.name} did not start:\n${output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const line of output().split("\n")) {
      if (!line.includes(spec.readyMessage)) continue;
      try {
        const parsed = JSON.parse(line) as { port?: number; metricsPort?: number };
        if (typeof parsed.port === "number") {
          ready = { port: parsed.port, metricsPort: parsed.metricsPort };
        }
      } catch {
        // A partly written line; the next poll sees it whole.
      }
    }
  }
  const pid = child.pid as number;
  let stopped: Promise<void> | undefined;
  return {
    name: spec.name,
    pid,
    port: ready.port,
    metricsPort: ready.metricsPort,
    cpuMicros: () => processCpuMicros(pid),
    memory: () => processMemory(pid),
    output,
    alive: () => !gone,
    stop(graceMs = 15_000) {
      stopped ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
      })();
      return stopped;
    },
  };
}
