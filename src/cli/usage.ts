// Help text of every subcommand.
import { SERVE_FLAGS } from "../config/service-config.js";

/** A command-line mistake: exit code 2 with usage. */
export class UsageError extends Error {}

function flagHelp(flags: Record<string, { help: string }>): string {
  return Object.entries(flags)
    .map(([name, spec]) => `  --${name.padEnd(24)} ${spec.help}`)
    .join("\n");
}

const SERVE_ENV =
  "Every flag can also be set as NIXFLEET_CP_<FLAG> (e.g. NIXFLEET_CP_LISTEN); flags win.";

const TEXT: Record<string, string> = {
  serve: `usage: nixfleet-cp serve [flags]\n\nRuns the ingestion service over mTLS.\n\n${flagHelp(SERVE_FLAGS)}\n\n${SERVE_ENV}\n`,
  dev: `usage: nixfleet-cp dev [serve flags]\n\nLike serve, but first makes a development PKI in <state-dir>/pki, opens a demo\nrollout, and prints curl and buf curl commands that work against it.\n`,
};

/** The help of one command, or of the whole CLI. */
export function usage(command?: string): string {
  if (command !== undefined && TEXT[command] !== undefined) return TEXT[command];
  return `usage: nixfleet-cp <command> [flags]

commands:
  serve      run the ingestion service
  dev        run it with a development PKI and demo rollout (npm start)

Run 'nixfleet-cp <command> --help' for a command's flags.
`;
}
