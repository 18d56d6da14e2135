// `nixfleet-cp serve`: runs the service until SIGTERM/SIGINT, then drains and exits 0;
// SIGHUP reloads the TLS certificate, key and client CA.
import pino, { type Logger } from "pino";
import { parseServeConfig, type ServiceConfig } from "../config/service-config.js";
import { type RunningService, startService } from "../server/start-service.js";

/** Starts the service and wires signals to a graceful shutdown. */
export async function runService(config: ServiceConfig, logger: Logger): Promise<RunningService> {
  const service = await startService(config, logger);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    logger.info({ signal }, "signal received");
    const force = setTimeout(() => {
      logger.error("shutdown timed out");
      process.exit(1);
    }, config.shutdownTimeoutMs + 5000);
    force.unref();
    service.shutdown().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  // systemd's ExecReload: rotate certificates without dropping a connection.
  process.on("SIGHUP", () => {
    logger.info({ signal: "SIGHUP" }, "signal received: reloading TLS material");
    service.reloadTls();
  });
  return service;
}

/** The pino logger of the service: JSON lines on stdout. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: "nixfleet-cp" } });
}

/** `serve [flags]`. */
export async function serveCommand(argv: readonly string[]): Promise<void> {
  const config = parseServeConfig(argv);
  await runService(config, createLogger(config.logLevel));
}
