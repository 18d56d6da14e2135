// Child-process entry of startup-failure.test.ts: `serve`'s startup with these flags, but
// without process.exit, so the process only ends once startup left nothing open behind.

import { createLogger, runService } from "../../src/cli/serve.js";
import { parseServeConfig } from "../../src/config/service-config.js";

try {
  const service = await runService(parseServeConfig(process.argv.slice(2)), createLogger("silent"));
  await service.shutdown();
  process.stdout.write("started\n");
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
