// Runs bin/nixfleet-cp as a child process, as a user would, with the caller's NIXFLEET_CP_*
// settings removed so they cannot leak into what a test expects.
import { type ChildProcess, spawn } from "node:child_process";

export const BIN = new URL("../../bin/nixfleet-cp", import.meta.url).pathname;

/** How a CLI process ended and what it printed. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A CLI process still running, with what it printed so far. */
export interface RunningCli {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  readonly done: Promise<CliResult>;
}

/** The environment without NIXFLEET_CP_* variables. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("NIXFLEET_CP_")),
  );
}

/** Every CLI process still running, for a test's `after` to kill. */
export const running = new Set<ChildProcess>();

/** Starts `nixfleet-cp args...` with `env` on top of the clean environment. */
export function startCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...cleanEnv(), ...options.env },
    cwd: options.cwd,
  });
  running.add(child);
  let out = "";
  let err = "";
  child.stdout?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => {
    err += c.toString();
  });
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      running.delete(child);
      resolve({ code, stdout: out, stderr: err });
    });
  });
  return { child, stdout: () => out, stderr: () => err, done };
}

/** Runs `nixfleet-cp args...` to completion. */
export function cli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CliResult> {
  return startCli(args, options).done;
}
