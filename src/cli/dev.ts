// `nixfleet-cp dev` (npm start): a development PKI and SQLite in ./.state on first start, a
// demo rollout for the example hosts, the service, and the exact commands to call it.
import { join, relative } from "node:path";
import { parseServeConfig } from "../config/service-config.js";
import { createDevPki } from "../pki/create-dev-pki.js";
import { DEV_P12_PASSWORD } from "../pki/pkcs12.js";
import { createLogger, runService } from "./serve.js";

const DEMO_ROLLOUT = "stable@3f2a9c1e";
const DEMO_HOSTS = ["web-01", "web-02", "db-01"];

/** `dev [serve flags]`. */
export async function devCommand(argv: readonly string[]): Promise<void> {
  const config = parseServeConfig(argv);
  const pki = await createDevPki(join(config.stateDir, "pki"), {
    agentCnSuffix: config.agentCnSuffix,
    hosts: DEMO_HOSTS,
    operators: ["admin"],
  });
  const logger = createLogger(config.logLevel);
  const service = await runService(config, logger);
  await service.openRollout({
    rolloutId: DEMO_ROLLOUT,
    channel: "stable",
    policy: "rollback-and-halt",
    soakDurationSecs: 60,
    hosts: DEMO_HOSTS.map((h) => ({ hostname: h, targetClosure: `def456-nixos-system-${h}` })),
  });
  const rel = (p: string) => relative(process.cwd(), p) || ".";
  const agent = pki.agents["web-01"];
  const operator = pki.operators["admin"];
  if (agent === undefined || operator === undefined) return;
  const url = `https://localhost:${service.port}`;
  const certs = (id: { certPath: string; keyPath: string }) =>
    `--cacert ${rel(pki.caPath)} --cert ${rel(id.certPath)} --key ${rel(id.keyPath)}`;
  const body = JSON.stringify({
    hostname: "web-01",
    rolloutId: DEMO_ROLLOUT,
    event: {
      kind: "DispatchAck",
      currentClosureAtDispatch: "abc123-nixos-system-web-01-prev",
      receivedAt: new Date().toISOString(),
      seq: 1,
    },
  });
  const proto = JSON.stringify({
    hostname: "web-01",
    rolloutId: DEMO_ROLLOUT,
    event: {
      seq: "2",
      activationStarted: { startedAt: new Date().toISOString(), switchMethod: "systemd-run" },
    },
  });
  process.stderr.write(
    [
      "",
      `nixfleet-cp dev: listening on ${url} (state in ${rel(config.stateDir)}, rollout ${DEMO_ROLLOUT} open for ${DEMO_HOSTS.join(", ")})`,
      "",
      "Post an event through the HTTP JSON binding:",
      `  curl -sS -w '%{http_code}\\n' ${certs(agent)} -H 'content-type: application/json' -d '${body}' ${url}/v1/agent/events`,
      "",
      "Post the next event over Connect with buf curl:",
      `  npx buf curl --schema proto ${certs(agent)} -d '${proto}' ${url}/nixfleet.agent.v1.AgentEventsService/PostEvent`,
      "",
      "Read the host's record as an operator (schema from server reflection):",
      `  npx buf curl ${certs(operator)} -d '{"rolloutId":"${DEMO_ROLLOUT}","hostname":"web-01"}' ${url}/nixfleet.ops.v1.RolloutService/GetHostRollout`,
      "",
      "Watch the fleet in a browser: import the CA as a trusted authority and the operator certificate,",
      `  ${rel(pki.caPath)} and ${rel(operator.p12Path)} (password "${DEV_P12_PASSWORD}"), then open ${url}/ui/`,
      "",
    ].join("\n"),
  );
}
