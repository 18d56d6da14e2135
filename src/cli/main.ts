// nixfleet-cp command line: dispatches commands and subcommands; exit codes 0 ok, 1 failure,
// 2 usage (one line naming the mistake, and where the help is).
import { closest } from "../config/flag-mistake.js";
import { ConfigError } from "../config/service-config.js";
import { VERSION } from "../config/version.js";
import { UsageError, usage } from "./usage.js";

type Command = (argv: readonly string[]) => Promise<void>;

// Commands load on demand: `--help` or `rollout status` need not pay for the server, the
// database drivers and the PKI code at every start.
const COMMANDS: Record<string, Command> = {
  serve: async (argv) => (await import("./serve.js")).serveCommand(argv),
  dev: async (argv) => (await import("./dev.js")).devCommand(argv),
  migrate: async (argv) => (await import("./migrate.js")).migrateCommand(argv),
  audit: async (argv) => (await import("./audit.js")).auditCommand(argv),
};

/** Commands that only group subcommands: `nixfleet-cp <group> <sub> ...`. */
const GROUPS: Record<string, Record<string, Command>> = {
  pki: {
    init: async (argv) => (await import("./pki-init.js")).pkiInitCommand(argv),
    "issue-agent": async (argv) =>
      (await import("./pki-issue-agent.js")).pkiIssueAgentCommand(argv),
  },
  rollout: {
    open: async (argv) => (await import("./rollout-open.js")).rolloutOpenCommand(argv),
    status: async (argv) => (await import("./rollout-status.js")).rolloutStatusCommand(argv),
    history: async (argv) => (await import("./rollout-history.js")).rolloutHistoryCommand(argv),
    watch: async (argv) => (await import("./rollout-watch.js")).rolloutWatchCommand(argv),
    list: async (argv) => (await import("./operator-views.js")).rolloutListCommand(argv),
  },
  refusals: {
    list: async (argv) => (await import("./operator-views.js")).refusalsListCommand(argv),
  },
  quarantines: {
    list: async (argv) => (await import("./operator-views.js")).quarantinesListCommand(argv),
  },
  "probe-failures": {
    list: async (argv) => (await import("./operator-views.js")).probeFailuresListCommand(argv),
  },
  hosts: {
    list: async (argv) => (await import("./hosts-list.js")).hostsListCommand(argv),
  },
};

const isHelp = (arg: string | undefined) => arg === "--help" || arg === "-h" || arg === "help";

/** The help key in effect, so a usage error can print the closest help text. */
let helpKey: string | undefined;

async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    // Nothing asked, nothing done: the usage, as a mistake, so scripts notice.
    process.stderr.write(usage());
    process.exitCode = 2;
    return;
  }
  if (isHelp(command)) {
    process.stdout.write(usage());
    return;
  }
  if (command === "--version" || command === "-V") {
    process.stdout.write(`nixfleet-cp ${VERSION}\n`);
    return;
  }
  let run = COMMANDS[command];
  let args = rest;
  const group = GROUPS[command];
  if (run === undefined && group === undefined) {
    const known = { ...COMMANDS, ...GROUPS };
    throw new UsageError(`unknown command "${command}"${didYouMean(command, known)}`);
  }
  helpKey = command;
  if (group !== undefined) {
    const [sub, ...subArgs] = rest;
    if (isHelp(sub)) {
      process.stdout.write(usage(command));
      return;
    }
    if (sub === undefined) throw new UsageError(`${command}: missing subcommand`, command);
    run = group[sub];
    if (run === undefined) {
      throw new UsageError(`unknown ${command} command "${sub}"${didYouMean(sub, group)}`, command);
    }
    helpKey = `${command} ${sub}`;
    args = subArgs;
  }
  if (run === undefined) throw new UsageError(`unknown command "${command}"`);
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(usage(helpKey));
    return;
  }
  await run(args);
}

function didYouMean(word: string, known: object): string {
  const guess = closest(word, Object.keys(known));
  return guess === undefined ? "" : ` (did you mean "${guess}"?)`;
}

// `nixfleet-cp rollout history ... | head` closes the pipe early; that is not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError || error instanceof ConfigError) {
    const key =
      error instanceof UsageError && error.command !== undefined ? error.command : helpKey;
    const help = key === undefined ? "nixfleet-cp --help" : `nixfleet-cp ${key} --help`;
    process.stderr.write(`nixfleet-cp: ${error.message}\nsee '${help}'\n`);
    process.exit(2);
  }
  process.stderr.write(`nixfleet-cp: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
