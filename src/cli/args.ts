// Parses a subcommand's arguments against its FlagSpecs, with environment fallbacks, turning
// every mistake into a one-line UsageError so the caller exits 2 pointing at that command's help.
import { parseArgs } from "node:util";
import { describeFlagMistake } from "../config/flag-mistake.js";
import type { FlagSpecs } from "./flags.js";
import { UsageError } from "./usage.js";

/** Parsed arguments with typed accessors; flags win over the environment. */
export interface ParsedArgs {
  readonly positionals: readonly string[];
  /** A string flag, its environment variable, or undefined. */
  string(name: string): string | undefined;
  /** Every value of a repeatable flag. */
  list(name: string): readonly string[];
  /** Whether a boolean flag was given. */
  flag(name: string): boolean;
}

/**
 * Parses `argv` for the command whose help key is `command`, expecting exactly the
 * positionals named in `positionals`.
 */
export function parseCommandArgs(
  command: string,
  argv: readonly string[],
  specs: FlagSpecs,
  positionals: readonly string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): ParsedArgs {
  const options = Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [
      name,
      { type: spec.type, multiple: spec.multiple ?? false },
    ]),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError(describeFlagMistake(error, Object.keys(specs)), command);
  }
  const missing = positionals.slice(parsed.positionals.length);
  if (missing.length > 0) throw new UsageError(`missing <${missing.join("> <")}>`, command);
  const extra = parsed.positionals.slice(positionals.length);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, command);
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const fromEnv = (name: string): string | undefined => {
    const variable = specs[name]?.env;
    const value = variable === undefined ? undefined : env[variable];
    return value === "" ? undefined : value;
  };
  return {
    positionals: parsed.positionals,
    string(name) {
      const v = values[name];
      return typeof v === "string" ? v : fromEnv(name);
    },
    list(name) {
      const v = values[name];
      return Array.isArray(v) ? v : [];
    },
    flag(name) {
      return values[name] === true;
    },
  };
}

/** Parses a whole number flag value, at least `min`. */
export function integerFlag(
  command: string,
  name: string,
  text: string | undefined,
  min: number,
): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${name}: expected a whole number >= ${min}, got "${text}"`, command);
  }
  return n;
}
