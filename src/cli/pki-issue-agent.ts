// `nixfleet-cp pki issue-agent HOST`: one agent certificate from the CA already in the PKI
// directory, for enrolling a host after `pki init`.
import { join, resolve } from "node:path";
import { issueAgentFiles } from "../pki/create-dev-pki.js";
import { parseCommandArgs } from "./args.js";
import { PKI_ISSUE_AGENT_FLAGS } from "./flags.js";
import { UsageError } from "./usage.js";

/** `pki issue-agent <host> [flags]`: prints the files written and the certificate's CN. */
export async function pkiIssueAgentCommand(argv: readonly string[]): Promise<void> {
  const args = parseCommandArgs("pki issue-agent", argv, PKI_ISSUE_AGENT_FLAGS, ["host"]);
  const host = args.positionals[0] as string;
  const stateDir = resolve(args.string("state-dir") ?? ".state");
  const dir = resolve(args.string("dir") ?? join(stateDir, "pki"));
  let issued: Awaited<ReturnType<typeof issueAgentFiles>>;
  try {
    issued = await issueAgentFiles(dir, host, {
      agentCnSuffix: args.string("agent-cn-suffix") ?? "fleet.lab.internal",
    });
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(error.message, "pki issue-agent");
    throw error;
  }
  if (args.flag("json")) {
    process.stdout.write(`${JSON.stringify({ host, ...issued }, null, 2)}\n`);
    return;
  }
  const verb = issued.replaced ? "replaced" : "created";
  process.stdout.write(
    `${verb} agent certificate for ${host}: CN=${issued.commonName}\n  ${issued.certPath}\n  ${issued.keyPath}\n`,
  );
}
