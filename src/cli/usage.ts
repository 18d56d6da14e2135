// Help text of every command and subcommand, and the usage mistake that points at it (exit 2).
import { SERVE_FLAGS } from "../config/service-config.js";
import {
  AUDIT_FLAGS,
  CLIENT_FLAGS,
  type FlagSpecs,
  HOSTS_LIST_FLAGS,
  MIGRATE_FLAGS,
  PKI_INIT_FLAGS,
  PKI_ISSUE_AGENT_FLAGS,
  PROBE_FAILURES_LIST_FLAGS,
  QUARANTINES_LIST_FLAGS,
  REFUSALS_LIST_FLAGS,
  ROLLOUT_HISTORY_FLAGS,
  ROLLOUT_LIST_FLAGS,
  ROLLOUT_OPEN_FLAGS,
  ROLLOUT_STATUS_FLAGS,
  ROLLOUT_WATCH_FLAGS,
} from "./flags.js";

/** A command-line mistake: exit code 2, pointing at the help of `command` (or of the CLI). */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

const HELP_WIDTH = 100;

function flagHelp(flags: Record<string, { help: string; value?: string; env?: string }>): string {
  return Object.entries(flags)
    .map(([name, spec]) => {
      const flag = `--${name}${spec.value === undefined ? "" : ` ${spec.value}`}`;
      const line = `  ${flag.padEnd(26)} ${spec.help}`;
      if (spec.env === undefined) return line;
      // The variable goes on its own line when it would push the help past the width.
      const env = `[env ${spec.env}]`;
      return line.length + env.length + 1 <= HELP_WIDTH
        ? `${line} ${env}`
        : `${line}\n${" ".repeat(29)}${env}`;
    })
    .join("\n");
}

const SERVE_ENV =
  "Every flag can also be set as NIXFLEET_CP_<FLAG> (e.g. NIXFLEET_CP_LISTEN); flags win.";

// Client flags are listed once per operator command, after the command's own flags.
function operatorFlags(flags: FlagSpecs): string {
  const own = Object.fromEntries(Object.entries(flags).filter(([name]) => !(name in CLIENT_FLAGS)));
  const ownHelp = Object.keys(own).length === 0 ? "" : `flags:\n${flagHelp(own)}\n\n`;
  return `${ownHelp}connection (operator certificate, over mTLS):\n${flagHelp(CLIENT_FLAGS)}\n`;
}

const ROLLOUT_COMMANDS = `  open       open a rollout for hosts and their target closures
  status     a table of every host's state, and counts by state
  history    the rollout's event log in commit order
  watch      the current table, then each state change as it happens
  list       every rollout with its derived status and hosts by state`;

const TEXT: Record<string, string> = {
  serve: `usage: nixfleet-cp serve [flags]\n\nRuns the ingestion service over mTLS.\n\n${flagHelp(SERVE_FLAGS)}\n\n${SERVE_ENV}\n`,
  dev: `usage: nixfleet-cp dev [serve flags]\n\nLike serve, but first makes a development PKI in <state-dir>/pki, opens a demo\nrollout, and prints curl and buf curl commands that work against it.\n`,
  pki: `usage: nixfleet-cp pki <subcommand> [flags]

subcommands:
  init         make a PKI: CA, server, agent and operator certificates
  issue-agent  issue one agent certificate from the CA already there
`,
  "pki init": `usage: nixfleet-cp pki init [flags]

Makes a PKI: a CA, a server certificate (CN and DNS names from --server-name, IPs from
--server-ip; localhost and 127.0.0.1 always), one agent certificate per --host
(CN agent-<host>.<suffix>) and one operator certificate per --operator
(CN operator-<name>.<suffix>). Usable files already there are kept; missing ones are
added, and the server certificate is re-issued when it lacks a requested name or IP.
The CA key sits next to the certificates: keep the directory private.

flags:
${flagHelp(PKI_INIT_FLAGS)}
`,
  "pki issue-agent": `usage: nixfleet-cp pki issue-agent <host> [flags]

Issues a new key and certificate for one agent (CN agent-<host>.<suffix>, EKU clientAuth)
from the CA in the PKI directory (ca.pem, ca-key.pem), replacing any earlier one:
agent-<host>.pem and agent-<host>-key.pem.

flags:
${flagHelp(PKI_ISSUE_AGENT_FLAGS)}
`,
  migrate: `usage: nixfleet-cp migrate [flags]

Applies every pending schema migration (serve also does this on start), or with --down
reverts the latest one.

flags:
${flagHelp(MIGRATE_FLAGS)}
`,
  rollout: `usage: nixfleet-cp rollout <subcommand> <rolloutId> [flags]

subcommands:
${ROLLOUT_COMMANDS}

Run 'nixfleet-cp rollout <subcommand> --help' for its flags.
`,
  "rollout open": `usage: nixfleet-cp rollout open <rolloutId> --policy POLICY --soak DURATION
         (--host HOST=CLOSURE ... | --hosts-file FILE) [flags]

Opens a rollout ("<channel>@<hex ref>") with one Pending record per host. Repeating the
same command changes nothing ("unchanged"); different settings or hosts fail (exit 1).

${operatorFlags(ROLLOUT_OPEN_FLAGS)}`,
  "rollout status": `usage: nixfleet-cp rollout status <rolloutId> [flags]

Prints HOST, STATE, SINCE (when the host entered its state) and LAST SEQ for every host,
then the number of hosts in each state and the rollout's derived status (see rollout list).
--json prints the records as a JSON array.

${operatorFlags(ROLLOUT_STATUS_FLAGS)}`,
  "rollout history": `usage: nixfleet-cp rollout history <rolloutId> [flags]

Prints the rollout's event log in commit order: log id, time recorded, host, seq, kind and
a summary of the event. --json prints one JSON object per event per line (a signature in
hex, as the HTTP binding takes it).

${operatorFlags(ROLLOUT_HISTORY_FLAGS)}`,
  hosts: `usage: nixfleet-cp hosts list [flags]

subcommands:
  list             show every host's liveness from its heartbeats

Run 'nixfleet-cp hosts list --help' for its flags.
`,
  "hosts list": `usage: nixfleet-cp hosts list [--reachable | --unreachable] [flags]

Prints HOST, REACHABLE, LAST HEARTBEAT (agent clock), RECEIVED (control-plane clock) and
CLOSURE for every host that ever sent a heartbeat, then the counts. A host is unreachable
when its last heartbeat arrived more than 3 heartbeat intervals ago (serve's
--heartbeat-interval). --json prints the hosts as a JSON array.

${operatorFlags(HOSTS_LIST_FLAGS)}`,
  "rollout list": `usage: nixfleet-cp rollout list [flags]

Prints every rollout (ordered by id) with its status derived from its hosts' states:
in-progress, converged, halted-on-failure (a host failed and did not roll back, or rolled
back while others still move) or reverted (all done, at least one rolled back).

${operatorFlags(ROLLOUT_LIST_FLAGS)}`,
  refusals: `usage: nixfleet-cp refusals list [flags]\n\nsubcommands:\n  list       the refused-event log\n`,
  "refusals list": `usage: nixfleet-cp refusals list [flags]

Prints the refused-event log: events refused on their merits (not_found, illegal_for_state,
invariant, probe_limit) or for input no store keeps (unsafe_input) or a bad signature (signature), one
line per distinct refusal with how often it was repeated. --json prints one JSON object
per line, with the request as received.

${operatorFlags(REFUSALS_LIST_FLAGS)}`,
  quarantines: `usage: nixfleet-cp quarantines list [flags]\n\nsubcommands:\n  list       quarantined closures\n`,
  "quarantines list": `usage: nixfleet-cp quarantines list [flags]

Prints the closures quarantined by a rollback, by channel: CHANNEL, CLOSURE, and the
rollout, host and time of the first rollback.

${operatorFlags(QUARANTINES_LIST_FLAGS)}`,
  "probe-failures": `usage: nixfleet-cp probe-failures list [flags]\n\nsubcommands:\n  list       the probe-failure view\n`,
  "probe-failures list": `usage: nixfleet-cp probe-failures list [flags]

Prints failing enforce-mode probes (a probe without sub-results) and failing enforce-mode
controls (of a probe with sub-results), in recording order.

${operatorFlags(PROBE_FAILURES_LIST_FLAGS)}`,
  audit: `usage: nixfleet-cp audit [flags]

Re-verifies every signed event in the event log, straight from the database: the kept
signature over the kept signed form with the signer's kept key, and the logged event equal
to the signed one. Prints each event that fails; exits 1 when any does.

flags:
${flagHelp(AUDIT_FLAGS)}
`,
  "rollout watch": `usage: nixfleet-cp rollout watch <rolloutId> [flags]

Prints the current status table, then one line per host state change as it commits
("<time> <host> <From> -> <To> seq N"), until Ctrl-C or the server ends the stream.
When the server ends it unavailable (shutting down) or resource_exhausted (the watch fell
behind), it reconnects with backoff and starts again from a fresh table, saying so on stderr.
--json prints every stream message as one JSON object per line.

${operatorFlags(ROLLOUT_WATCH_FLAGS)}`,
};

/** The help of one command (e.g. "rollout open"), or of the whole CLI. */
export function usage(command?: string): string {
  if (command !== undefined && TEXT[command] !== undefined) return TEXT[command];
  return `usage: nixfleet-cp <command> [flags]

commands:
  serve            run the ingestion service
  dev              run it with a development PKI and demo rollout (npm start)
  pki init         make a PKI (CA, server, agent and operator certificates)
  pki issue-agent  issue one agent certificate from the existing CA
  migrate          apply the database migrations (or --down: revert the latest)
  rollout open     open a rollout
  rollout status   show where every host of a rollout stands
  rollout history  show a rollout's event log
  rollout watch    follow a rollout's state changes live
  hosts list       show host liveness (reachable / unreachable) from heartbeats
  rollout list     list rollouts with their derived status
  refusals list    list refused events (the refused-event log)
  quarantines list list quarantined closures
  probe-failures list  list failing enforce-mode probes and controls
  audit            re-verify every signed event in the event log

Run 'nixfleet-cp <command> --help' for a command's flags, 'nixfleet-cp --version' for the version.
`;
}
