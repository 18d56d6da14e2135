// nixfleet-cp command line: dispatches subcommands; exit codes 0 ok, 1 failure, 2 usage.
import { ConfigError } from "../config/service-config.js";
import { devCommand } from "./dev.js";
import { serveCommand } from "./serve.js";
import { UsageError, usage } from "./usage.js";

const COMMANDS: Record<string, (argv: readonly string[]) => Promise<void>> = {
  serve: serveCommand,
  dev: devCommand,
};

async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(usage());
    return;
  }
  const run = COMMANDS[command];
  if (run === undefined) throw new UsageError(`unknown command "${command}"`);
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(usage(command));
    return;
  }
  await run(rest);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError || error instanceof ConfigError) {
    process.stderr.write(`nixfleet-cp: ${error.message}\n\n${usage()}`);
    process.exit(2);
  }
  process.stderr.write(`nixfleet-cp: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
