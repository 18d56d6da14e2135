// The CLI's own commands as child processes, no server needed: help and usage errors with
// their exit codes, `pki init` into a temp dir and `migrate` on a temp SQLite file.
import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import BetterSqlite3 from "better-sqlite3";
import { migrationProvider } from "../../src/storage/migrate.js";
import { type CliResult, cli } from "./cli-harness.js";

describe("nixfleet-cp help and usage errors", () => {
  test("--help lists every command and exits 0", async () => {
    const r = await cli(["--help"]);
    assert.equal(r.code, 0, r.stderr);
    for (const command of [
      "serve",
      "dev",
      "pki init",
      "migrate",
      "rollout open",
      "rollout status",
      "rollout history",
      "rollout watch",
    ]) {
      assert.match(r.stdout, new RegExp(`^  ${command} `, "m"), command);
    }
    assert.equal(r.stderr, "");
  });

  test("each command's --help shows its flags", async () => {
    const cases: [string[], string[]][] = [
      [
        ["serve", "--help"],
        ["--listen", "--state-dir"],
      ],
      [
        ["pki", "init", "--help"],
        ["--dir", "--agent-cn-suffix", "--host", "--operator", "--json"],
      ],
      [
        ["migrate", "--help"],
        ["--db", "--down"],
      ],
      [
        ["rollout", "--help"],
        ["open", "status", "history", "watch"],
      ],
      [
        ["rollout", "open", "--help"],
        ["--policy", "--soak", "--host", "--hosts-file", "--server", "NIXFLEET_CP_CERT"],
      ],
      [
        ["rollout", "status", "-h"],
        ["--server", "--ca", "--cert", "--key", "--json"],
      ],
      [
        ["rollout", "history", "--help"],
        ["--host", "--after", "--limit", "--json"],
      ],
      [
        ["rollout", "watch", "--help"],
        ["--server", "NIXFLEET_CP_SERVER", "--json"],
      ],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(args)));
    cases.forEach(([args, expected], i) => {
      const r = results[i] as CliResult;
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      for (const e of expected) assert.ok(r.stdout.includes(e), `${args.join(" ")} lacks ${e}`);
    });
  });

  test("an unknown command, subcommand or flag exits 2 with one line and where the help is", async () => {
    const unknown = await cli(["frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stdout, "");
    assert.equal(
      unknown.stderr,
      `nixfleet-cp: unknown command "frobnicate"\nsee 'nixfleet-cp --help'\n`,
    );

    const sub = await cli(["rollout", "frobnicate", "stable@0a"]);
    assert.equal(sub.code, 2);
    assert.match(sub.stderr, /unknown rollout command "frobnicate"/);
    assert.match(sub.stderr, /^see 'nixfleet-cp rollout --help'$/m);

    const flag = await cli(["rollout", "status", "stable@0a", "--frobnicate"]);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /^nixfleet-cp: unknown flag --frobnicate$/m);
    assert.match(flag.stderr, /^see 'nixfleet-cp rollout status --help'$/m);
  });

  test("missing or malformed arguments exit 2 before any connection", async () => {
    const cases: [string[], RegExp][] = [
      [["rollout", "status"], /missing <rolloutId>/],
      [["rollout", "status", "a@0a", "b@0b"], /unexpected argument "b@0b"/],
      [["rollout", "open", "stable@0a", "--soak", "10m", "--host", "a=b"], /--policy is required/],
      [
        ["rollout", "open", "stable@0a", "--policy", "halt", "--soak", "10 min", "--host", "a=b"],
        /--soak: expected/,
      ],
      [
        ["rollout", "open", "stable@0a", "--policy", "maybe", "--soak", "10m", "--host", "a=b"],
        /--policy: expected halt or rollback-and-halt/,
      ],
      [
        ["rollout", "open", "stable@0a", "--policy", "halt", "--soak", "10m", "--host", "web-01"],
        /--host: expected HOST=CLOSURE/,
      ],
      [["rollout", "open", "stable@0a", "--policy", "halt", "--soak", "1h"], /name hosts/],
      [["rollout", "history", "stable@0a", "--limit", "0"], /--limit: expected a whole number/],
      [["rollout", "watch", "stable@0a", "--server", "http://localhost:1"], /https:\/\//],
      [["pki"], /missing subcommand/],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(args)));
    cases.forEach(([args, message], i) => {
      const r = results[i] as CliResult;
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(" "));
      // One line naming the mistake, one pointing at the help; no help text dumped.
      assert.equal(r.stderr.trimEnd().split("\n").length, 2, r.stderr);
    });
  });
});

describe("nixfleet-cp pki init and migrate", () => {
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "nixfleet-cli-"));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test("pki init writes a CA, server, agent and operator certificates", async () => {
    const pki = join(dir, "pki");
    const r = await cli([
      "pki",
      "init",
      "--dir",
      pki,
      "--agent-cn-suffix",
      "test.example",
      "--host",
      "web-01",
      "--host",
      "db-01",
      "--operator",
      "alice",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const files = [
      "ca.pem",
      "ca-key.pem",
      "server.pem",
      "server-key.pem",
      "agent-web-01.pem",
      "agent-web-01-key.pem",
      "agent-db-01.pem",
      "agent-db-01-key.pem",
      "operator-alice.pem",
      "operator-alice-key.pem",
      "operator-alice.p12",
    ];
    for (const f of files) {
      assert.ok(existsSync(join(pki, f)), f);
      assert.match(r.stdout, new RegExp(`created\\s+${f.replaceAll(".", "\\.")}\\s`), f);
    }
    assert.match(r.stdout, /11 written, 0 kept/);
    assert.match(r.stdout, /PKCS#12, password "nixfleet"/);
    assert.equal(statSync(join(pki, "operator-alice.p12")).mode & 0o777, 0o600);
    assert.match(r.stdout, /CN=operator-alice\.test\.example/);
    assert.equal(statSync(join(pki, "ca-key.pem")).mode & 0o777, 0o600);
  });

  test("pki init again keeps what is there and adds a new host (--json)", async () => {
    const pki = join(dir, "pki");
    const r = await cli([
      "pki",
      "init",
      "--dir",
      pki,
      "--agent-cn-suffix",
      "test.example",
      "--host",
      "web-01",
      "--host",
      "db-01",
      "--host",
      "web-02",
      "--operator",
      "alice",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      dir: string;
      caPath: string;
      agents: Record<string, { certPath: string; commonName: string }>;
      operators: Record<string, { commonName: string }>;
      files: { path: string; status: string }[];
    };
    assert.equal(out.dir, pki);
    assert.equal(out.caPath, join(pki, "ca.pem"));
    assert.equal(out.agents["web-02"]?.commonName, "agent-web-02.test.example");
    assert.equal(out.operators["alice"]?.commonName, "operator-alice.test.example");
    const status = Object.fromEntries(out.files.map((f) => [f.path.split("/").at(-1), f.status]));
    assert.equal(status["ca.pem"], "kept");
    assert.equal(status["agent-web-01.pem"], "kept");
    assert.equal(status["operator-alice.p12"], "kept");
    assert.equal(status["agent-web-02.pem"], "created");
    assert.equal(status["agent-web-02-key.pem"], "created");
  });

  test("pki init refuses a non-empty directory that holds no dev CA (exit 1)", async () => {
    const other = join(dir, "not-a-pki");
    mkdirSync(other);
    writeFileSync(join(other, "keep.txt"), "precious");
    const r = await cli(["pki", "init", "--dir", other]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /refusing to overwrite/);
    assert.deepEqual(readdirSync(other), ["keep.txt"]);
  });

  test("pki init defaults to <state-dir>/pki", async () => {
    const state = join(dir, "state");
    const r = await cli(["pki", "init", "--state-dir", state]);
    assert.equal(r.code, 0, r.stderr);
    for (const f of ["ca.pem", "agent-web-01.pem", "operator-admin.pem", "operator-admin-key.pem"])
      assert.ok(existsSync(join(state, "pki", f)), f);
  });

  test("migrate applies the schema to a new SQLite file, then reports up to date", async () => {
    const db = join(dir, "cp.sqlite");
    const first = await cli(["migrate", "--db", db]);
    assert.equal(first.code, 0, first.stderr);
    const names = Object.keys(await migrationProvider("sqlite").getMigrations()).sort();
    assert.match(first.stdout, new RegExp(`applied ${names.length} migration`));
    for (const name of names) assert.match(first.stdout, new RegExp(`^ {2}${name}$`, "m"));
    const raw = new BetterSqlite3(db, { readonly: true });
    const tables = raw
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
      .all()
      .map((row) => (row as { name: string }).name);
    raw.close();
    for (const t of ["rollouts", "host_rollout_records", "event_log"])
      assert.ok(tables.includes(t), `${t} in ${tables.join(",")}`);

    const again = await cli(["migrate", "--db", `sqlite:${db}`, "--json"]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout), { database: db, applied: [] });
  });

  test("migrate --down reverts the latest migration, and says so when none is left", async () => {
    const db = join(dir, "cp.sqlite");
    const names = Object.keys(await migrationProvider("sqlite").getMigrations()).sort();
    for (const name of names.reverse()) {
      const down = await cli(["migrate", "--db", db, "--down", "--json"]);
      assert.equal(down.code, 0, down.stderr);
      assert.deepEqual(JSON.parse(down.stdout), { database: db, reverted: name });
    }
    const none = await cli(["migrate", "--db", db, "--down"]);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /no migration to revert/);
  });

  test("migrate with an unsupported URL is a usage error", async () => {
    const r = await cli(["migrate", "--db", "mysql://localhost/db"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unsupported database URL scheme/);
  });
});
