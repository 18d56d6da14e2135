// The flags of the pki, migrate and rollout commands as data, shared by the parser and the
// help texts so the two cannot drift apart.

/** One command-line flag. `env` names the variable that supplies it when the flag is absent. */
export interface FlagSpec {
  readonly type: "string" | "boolean";
  readonly multiple?: boolean;
  readonly env?: string;
  /** Shown after the flag name in help, e.g. "URL". */
  readonly value?: string;
  readonly help: string;
}

/** The flags of one command, by long name. */
export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

const JSON_FLAG: FlagSpec = { type: "boolean", help: "print JSON for scripts instead of text" };

const STATE_DIR: FlagSpec = {
  type: "string",
  env: "NIXFLEET_CP_STATE_DIR",
  value: "DIR",
  help: "state directory the defaults live in (default ./.state)",
};

/** `pki init`. */
export const PKI_INIT_FLAGS: FlagSpecs = {
  dir: { type: "string", value: "DIR", help: "where to write the PKI (default <state-dir>/pki)" },
  "state-dir": STATE_DIR,
  "agent-cn-suffix": {
    type: "string",
    env: "NIXFLEET_CP_AGENT_CN_SUFFIX",
    value: "SUFFIX",
    help: "agent and operator CN suffix (default fleet.lab.internal)",
  },
  host: {
    type: "string",
    multiple: true,
    value: "NAME",
    help: "agent certificate for NAME (repeatable; default web-01 web-02 db-01)",
  },
  operator: {
    type: "string",
    multiple: true,
    value: "NAME",
    help: "operator certificate for NAME (repeatable; default admin)",
  },
  "server-name": {
    type: "string",
    multiple: true,
    value: "NAME",
    help: "DNS name of the server certificate (repeatable; the first is its CN; default localhost)",
  },
  "server-ip": {
    type: "string",
    multiple: true,
    value: "IP",
    help: "IP address of the server certificate (repeatable; 127.0.0.1 is always there)",
  },
  json: JSON_FLAG,
};

/** `pki issue-agent`. */
export const PKI_ISSUE_AGENT_FLAGS: FlagSpecs = {
  dir: {
    type: "string",
    value: "DIR",
    help: "where the CA (ca.pem, ca-key.pem) is and the certificate goes (default <state-dir>/pki)",
  },
  "state-dir": STATE_DIR,
  "agent-cn-suffix": {
    type: "string",
    env: "NIXFLEET_CP_AGENT_CN_SUFFIX",
    value: "SUFFIX",
    help: "agent CN suffix (default fleet.lab.internal)",
  },
  json: JSON_FLAG,
};

/** `migrate`. */
export const MIGRATE_FLAGS: FlagSpecs = {
  db: {
    type: "string",
    env: "NIXFLEET_CP_DB",
    value: "URL",
    help: "SQLite path, sqlite:PATH or postgres://… (default <state-dir>/nixfleet-cp.sqlite)",
  },
  "state-dir": STATE_DIR,
  down: { type: "boolean", help: "revert the latest applied migration instead" },
  json: JSON_FLAG,
};

/** How every rollout command reaches the server. */
export const CLIENT_FLAGS: FlagSpecs = {
  server: {
    type: "string",
    env: "NIXFLEET_CP_SERVER",
    value: "URL",
    help: "the control plane (default https://localhost:8443)",
  },
  ca: {
    type: "string",
    env: "NIXFLEET_CP_CA",
    value: "PEM",
    help: "CA of the server certificate (default <state-dir>/pki/ca.pem)",
  },
  cert: {
    type: "string",
    env: "NIXFLEET_CP_CERT",
    value: "PEM",
    help: "operator certificate (default <state-dir>/pki/operator-admin.pem)",
  },
  key: {
    type: "string",
    env: "NIXFLEET_CP_KEY",
    value: "PEM",
    help: "its private key (default <state-dir>/pki/operator-admin-key.pem)",
  },
  "state-dir": STATE_DIR,
  json: JSON_FLAG,
};

/** `rollout open`. */
export const ROLLOUT_OPEN_FLAGS: FlagSpecs = {
  policy: {
    type: "string",
    value: "POLICY",
    help: "what failing hosts do: halt or rollback-and-halt (required)",
  },
  soak: {
    type: "string",
    value: "DURATION",
    help: "least time on the new closure: 0, 600s, 10m, 1h, 1h30m (required)",
  },
  host: {
    type: "string",
    multiple: true,
    value: "HOST=CLOSURE",
    help: "a host and the closure it should run (repeatable)",
  },
  "hosts-file": {
    type: "string",
    value: "FILE",
    help: "JSON array of {hostname, targetClosure} (with or instead of --host)",
  },
  ...CLIENT_FLAGS,
};

/** `rollout status`. */
export const ROLLOUT_STATUS_FLAGS: FlagSpecs = CLIENT_FLAGS;

/** `rollout history`. */
export const ROLLOUT_HISTORY_FLAGS: FlagSpecs = {
  host: { type: "string", value: "NAME", help: "only this host's events" },
  after: { type: "string", value: "ID", help: "only events with a log id greater than ID" },
  limit: { type: "string", value: "N", help: "print at most N events (default all)" },
  ...CLIENT_FLAGS,
};

/** `rollout watch`. */
export const ROLLOUT_WATCH_FLAGS: FlagSpecs = {
  "reconnect-attempts": {
    type: "string",
    env: "NIXFLEET_CP_RECONNECT_ATTEMPTS",
    value: "N",
    help: "reconnects in a row after the server ends the watch unavailable or overloaded (default 10; 0 never)",
  },
  ...CLIENT_FLAGS,
};

/** `hosts list`. */
export const HOSTS_LIST_FLAGS: FlagSpecs = {
  reachable: { type: "boolean", help: "only hosts heard from within 3 heartbeat intervals" },
  unreachable: { type: "boolean", help: "only hosts silent for more than 3 heartbeat intervals" },
  ...CLIENT_FLAGS,
};

/** `audit`: reads the database directly, like `migrate`. */
export const AUDIT_FLAGS: FlagSpecs = {
  db: MIGRATE_FLAGS["db"] as FlagSpec,
  "state-dir": STATE_DIR,
  rollout: { type: "string", value: "ID", help: "only this rollout's events" },
  host: { type: "string", value: "NAME", help: "only this host's events" },
  json: { type: "boolean", help: "print each failing event as one JSON object per line" },
};

/** `refusals list`. */
export const REFUSALS_LIST_FLAGS: FlagSpecs = {
  rollout: { type: "string", value: "ID", help: "only refusals naming this rollout id" },
  host: { type: "string", value: "NAME", help: "only this host's refusals" },
  reason: {
    type: "string",
    value: "REASON",
    help: "only not_found, illegal_for_state, invariant, probe_limit, unsafe_input or signature",
  },
  limit: { type: "string", value: "N", help: "print at most N entries (default all)" },
  ...CLIENT_FLAGS,
};

/** `quarantines list`. */
export const QUARANTINES_LIST_FLAGS: FlagSpecs = {
  channel: { type: "string", value: "NAME", help: "only this channel's quarantines" },
  ...CLIENT_FLAGS,
};

/** `probe-failures list`. */
export const PROBE_FAILURES_LIST_FLAGS: FlagSpecs = {
  rollout: { type: "string", value: "ID", help: "only this rollout's failures" },
  host: { type: "string", value: "NAME", help: "only this host's failures" },
  probe: { type: "string", value: "NAME", help: "only this probe's failures" },
  limit: { type: "string", value: "N", help: "print at most N entries (default all)" },
  ...CLIENT_FLAGS,
};

/** `rollout list`. */
export const ROLLOUT_LIST_FLAGS: FlagSpecs = {
  channel: { type: "string", value: "NAME", help: "only this channel's rollouts" },
  ...CLIENT_FLAGS,
};
