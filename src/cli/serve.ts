// `nixfleet-cp serve`: runs the service until SIGTERM/SIGINT, then drains and exits 0;
// SIGHUP reloads the TLS certificate, key and client CA.
import { relative } from "node:path";
import pino, { type Logger } from "pino";
import { parseServeConfig, type ServiceConfig } from "../config/service-config.js";
import { type RunningService, startService } from "../server/start-service.js";
import { readCertificatePem, readKeyPair } from "./pem-files.js";

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

/**
 * Checks the server's TLS files before starting, so a state dir without a PKI or a swapped file
 * is reported as such, with the command that makes one.
 */
export function checkServeFiles(config: ServiceConfig): void {
  const rel = relative(process.cwd(), config.stateDir);
  const stateDir = rel === "" ? "." : rel.startsWith("..") ? config.stateDir : rel;
  const hintWhenMissing = `run 'nixfleet-cp pki init --state-dir ${stateDir}' for a development PKI (or 'npm start', which makes one), or pass --tls-cert, --tls-key and --client-ca`;
  readKeyPair(
    { flag: "tls-cert", path: config.tlsCert, hintWhenMissing },
    { flag: "tls-key", path: config.tlsKey, hintWhenMissing },
  );
  readCertificatePem({ flag: "client-ca", path: config.clientCa, hintWhenMissing });
}

/** `serve [flags]`. */
export async function serveCommand(argv: readonly string[]): Promise<void> {
  const config = parseServeConfig(argv);
  checkServeFiles(config);
  await runService(config, createLogger(config.logLevel));
}
