// The mistakes a newcomer makes with the CLI, each answered with what went wrong and what to do:
// usage slips (one line, a did-you-mean), local file and TLS mistakes named as such, a server
// refusing the certificate, a missing PKI or database directory, empty results said truthfully.
import assert from "node:assert/strict";
import { sign } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { canonicalJson } from "../../src/server/signature/canonical-json.js";
import { type CliResult, cli, running } from "./cli-harness.js";
import {
  cleanup,
  makeTestPki,
  postBinding,
  request,
  type SpawnedServer,
  spawnFlags,
  spawnServer,
  type TestPki,
} from "./harness.js";

const VERSION = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;

/** Exit 2 with exactly the mistake and the pointer to the help. */
function assertUsage(r: CliResult, mistake: string, help: string): void {
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr, `nixfleet-cp: ${mistake}\nsee '${help}'\n`);
}

/** Exit 1 with one line that matches `message`, and none of the transport's jargon. */
function assertFailure(r: CliResult, message: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, message);
  assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /Internal:|Canceled:|ENOENT|stream closed/);
}

describe("nixfleet-cp usage mistakes", () => {
  test("bare nixfleet-cp prints the usage on stderr and exits 2", async () => {
    const r = await cli([]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^usage: nixfleet-cp <command>/);
  });

  test("--version prints the package version", async () => {
    const r = await cli(["--version"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `nixfleet-cp ${VERSION}\n`);
  });

  test("a mistyped flag, command or subcommand gets a did-you-mean", async () => {
    const [flag, serve, command, sub, far] = await Promise.all([
      cli(["rollout", "status", "stable@0a", "--sever", "https://x"]),
      cli(["serve", "--lisen", "127.0.0.1:0"]),
      cli(["rollot", "status"]),
      cli(["rollout", "stats", "stable@0a"]),
      cli(["rollout", "status", "stable@0a", "--frobnicate"]),
    ]);
    assertUsage(
      flag,
      "unknown flag --sever (did you mean --server?)",
      "nixfleet-cp rollout status --help",
    );
    assertUsage(serve, "unknown flag --lisen (did you mean --listen?)", "nixfleet-cp serve --help");
    assertUsage(
      command,
      'unknown command "rollot" (did you mean "rollout"?)',
      "nixfleet-cp --help",
    );
    assertUsage(
      sub,
      'unknown rollout command "stats" (did you mean "status"?)',
      "nixfleet-cp rollout --help",
    );
    assertUsage(far, "unknown flag --frobnicate", "nixfleet-cp rollout status --help");
  });

  test("a flag without its value, or a switch given one, is one line", async () => {
    const [missing, extra] = await Promise.all([
      cli(["rollout", "history", "stable@0a", "--after"]),
      cli(["migrate", "--down=yes"]),
    ]);
    assertUsage(missing, "--after needs a value", "nixfleet-cp rollout history --help");
    assertUsage(extra, "--down takes no value", "nixfleet-cp migrate --help");
  });
});

describe("nixfleet-cp local file mistakes", () => {
  let pki: TestPki;
  let conn: string[];
  let operatorCert: string;
  let operatorKey: string;

  before(async () => {
    pki = await makeTestPki();
    const operator = pki.pki.operators["admin"];
    assert.ok(operator);
    operatorCert = operator.certPath;
    operatorKey = operator.keyPath;
    // Nothing listens there: every mistake below must be found before connecting.
    conn = ["--server", "https://localhost:1", "--ca", pki.pki.caPath];
    conn.push("--cert", operatorCert, "--key", operatorKey);
  });
  after(() => cleanup(pki));

  test("unusable --ca, --cert and --key files are named, with what is wrong", async () => {
    const status = (...flags: string[]) =>
      cli(["rollout", "status", "stable@0a", ...conn, ...flags]);
    const agentKey = pki.pki.agents["web-01"]?.keyPath as string;
    const [missingCa, keyAsCert, certAsKey, otherKey, directory, missing] = await Promise.all([
      status("--ca", join(pki.dir, "notes.txt")),
      status("--cert", operatorKey),
      status("--key", operatorCert),
      status("--key", agentKey),
      status("--key", pki.dir),
      status("--cert", join(pki.dir, "nope.pem")),
    ]);
    assertFailure(missingCa, /^nixfleet-cp: --ca \S+notes\.txt: no such file; .*pki init/);
    assertFailure(keyAsCert, /--cert \S+: not a PEM certificate \(it holds a private key\)/);
    assertFailure(certAsKey, /--key \S+: not a PEM private key \(it holds a certificate\)/);
    assertFailure(
      otherKey,
      /--key \S+agent-web-01-key\.pem is not the key of --cert \S+operator-admin\.pem/,
    );
    assertFailure(directory, /--key \S+: is a directory/);
    assertFailure(
      missing,
      /--cert \S+nope\.pem: no such file; pass it, or run 'nixfleet-cp pki init'/,
    );
  });

  test("a --ca that is not PEM at all is reported as such", async () => {
    const text = join(pki.dir, "ca.txt");
    writeFileSync(text, "not a certificate\n");
    const r = await cli(["rollout", "status", "stable@0a", ...conn, "--ca", text]);
    assertFailure(
      r,
      /--ca \S+ca\.txt: not a PEM certificate; expected a "-----BEGIN CERTIFICATE-----"/,
    );
  });

  test("serve without a PKI says how to make one", async () => {
    const empty = join(pki.dir, "empty-state");
    mkdirSync(empty);
    const r = await cli(["serve", "--state-dir", empty, "--listen", "127.0.0.1:0"]);
    assertFailure(
      r,
      /--tls-cert \S+server\.pem: no such file; run 'nixfleet-cp pki init --state-dir /,
    );
    assert.match(r.stderr, /'npm start'/);
  });

  test("serve with the key of another certificate says so", async () => {
    const r = await cli([
      ...["serve", ...spawnFlags(pki)],
      ...["--tls-key", pki.pki.agents["web-01"]?.keyPath as string],
    ]);
    assertFailure(
      r,
      /--tls-key \S+agent-web-01-key\.pem is not the key of --tls-cert \S+server\.pem/,
    );
  });

  test("migrate and serve refuse a --db whose directory does not exist, creating nothing", async () => {
    const typo = join(pki.dir, "typo", "dir");
    const [migrate, serve] = await Promise.all([
      cli(["migrate", "--db", join(typo, "cp.sqlite")]),
      cli(["serve", ...spawnFlags(pki), "--db", `sqlite:${join(typo, "serve.sqlite")}`]),
    ]);
    for (const r of [migrate, serve]) {
      assertFailure(r, /SQLite database \S+: directory \S+typo\/dir does not exist/);
    }
    assert.equal(existsSync(join(pki.dir, "typo")), false);
  });
});

describe("nixfleet-cp against a server it cannot trust or that refuses it", () => {
  const ROLLOUT = "stable@0c1b";
  let pki: TestPki;
  let server: SpawnedServer;
  let conn: string[];

  before(async () => {
    pki = await makeTestPki();
    server = await spawnServer({ flags: spawnFlags(pki) });
    const operator = pki.pki.operators["admin"];
    assert.ok(operator);
    conn = ["--server", server.url, "--ca", pki.pki.caPath];
    conn.push("--cert", operator.certPath, "--key", operator.keyPath);
    const open = await cli([
      ...["rollout", "open", ROLLOUT, "--policy", "halt", "--soak", "0"],
      ...["--host", "web-01=def456-nixos-system-web-01", ...conn],
    ]);
    assert.equal(open.code, 0, open.stderr);
  });
  after(async () => {
    for (const child of running) child.kill("SIGKILL");
    server.child.kill("SIGTERM");
    await server.exited;
    cleanup(pki);
  });

  test("a client certificate of another CA is a refused certificate, not a closed stream", async () => {
    writeFileSync(join(pki.dir, "foreign.pem"), pki.foreign.cert);
    writeFileSync(join(pki.dir, "foreign-key.pem"), pki.foreign.key);
    const r = await cli([
      ...["rollout", "status", ROLLOUT, ...conn],
      ...["--cert", join(pki.dir, "foreign.pem"), "--key", join(pki.dir, "foreign-key.pem")],
    ]);
    assertFailure(
      r,
      /refused the client certificate --cert \S+foreign\.pem \(issued by CN=someone else's CA\).*the CA the server trusts/,
    );
  });

  test("a --ca that did not issue the server's certificate is a verification failure", async () => {
    const other = join(pki.dir, "other-pki");
    const init = await cli(["pki", "init", "--dir", other]);
    assert.equal(init.code, 0, init.stderr);
    const r = await cli(["rollout", "status", ROLLOUT, ...conn, "--ca", join(other, "ca.pem")]);
    assertFailure(
      r,
      /cannot verify https:\/\/localhost:\d+: its certificate is not signed by --ca \S+other-pki\/ca\.pem/,
    );
  });

  test("history says which events there are none of", async () => {
    const signed = {
      kind: "DispatchAck",
      currentClosureAtDispatch: "abc123-prev",
      receivedAt: "2026-05-16T01:27:01Z",
      seq: 1,
    };
    const signature = sign("sha256", Buffer.from(canonicalJson(signed)), pki.agent("web-01").key);
    const res = await postBinding(server.url, pki.ca, pki.agent("web-01"), {
      hostname: "web-01",
      rolloutId: ROLLOUT,
      event: signed,
      signature: signature.toString("hex"),
    });
    assert.equal(res.status, 204, res.body);
    const all = await cli(["rollout", "history", ROLLOUT, "--json", ...conn]);
    assert.equal(all.code, 0, all.stderr);
    const entry = JSON.parse(all.stdout) as { id: string; signature: string };
    // Hex, exactly as the agent sent it on the binding (proto JSON would print base64).
    assert.equal(entry.signature, signature.toString("hex"));

    const [afterLast, otherHost, unknown] = await Promise.all([
      cli(["rollout", "history", ROLLOUT, "--after", entry.id, ...conn]),
      cli(["rollout", "history", ROLLOUT, "--host", "db-01", ...conn]),
      cli(["rollout", "history", "stable@ffff", ...conn]),
    ]);
    for (const r of [afterLast, otherHost, unknown]) assert.equal(r.code, 0, r.stderr);
    assert.equal(afterLast.stderr, `no events in ${ROLLOUT} after id ${entry.id}\n`);
    assert.equal(otherHost.stderr, `no events for db-01 in ${ROLLOUT}\n`);
    assert.equal(unknown.stderr, "no events in stable@ffff\n");
  });

  test("the metrics say which build runs", async () => {
    const res = await request(server.url, pki.ca, pki.operator, {
      path: "/metrics",
      method: "GET",
    });
    assert.equal(res.status, 200);
    assert.match(res.body, /^# TYPE nixfleet_cp_build_info gauge$/m);
    assert.match(
      res.body,
      new RegExp(
        `^nixfleet_cp_build_info\\{version="${VERSION.replaceAll(".", "\\.")}"\\} 1$`,
        "m",
      ),
    );
  });
});
