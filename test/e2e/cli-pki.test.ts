// `pki init --server-name/--server-ip` (the server certificate's names) and `pki issue-agent`
// (one agent certificate from the CA already there), as child processes on a temp dir.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

const BIN = new URL("../../bin/nixfleet-cp", import.meta.url).pathname;
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";

function cli(
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("NIXFLEET_CP_")),
  );
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const cert = (path: string) => new X509Certificate(readFileSync(path));

describe("pki: server names and issuing agents", () => {
  let dir: string;
  let pki: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "nixfleet-cli-pki-"));
    pki = join(dir, "pki");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("pki init --server-name/--server-ip puts them in the server certificate", async () => {
    const r = await cli([
      "pki",
      "init",
      "--dir",
      pki,
      "--server-name",
      "cp.example.org",
      "--server-name",
      "cp",
      "--server-ip",
      "10.0.0.5",
      "--server-ip",
      "fd00::5",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /server\.pem\s+server certificate\s+CN=cp\.example\.org/);
    const server = cert(join(pki, "server.pem"));
    assert.equal(server.subject, "CN=cp.example.org");
    for (const name of ["cp.example.org", "cp", "localhost"])
      assert.equal(server.checkHost(name), name, name);
    for (const ip of ["10.0.0.5", "fd00::5", "127.0.0.1"]) assert.equal(server.checkIP(ip), ip, ip);
    assert.deepEqual(server.keyUsage, [SERVER_AUTH]);
  });

  test("the same names keep the certificate, a new IP re-issues it, none keeps it", async () => {
    const base = [
      "pki",
      "init",
      "--dir",
      pki,
      "--server-name",
      "cp.example.org",
      "--server-name",
      "cp",
    ];
    const same = await cli([...base, "--server-ip", "10.0.0.5", "--server-ip", "fd00::5"]);
    assert.match(same.stdout, /kept\s+server\.pem/);
    const more = await cli([...base, "--server-ip", "10.0.0.5", "--server-ip", "10.0.0.6"]);
    assert.equal(more.code, 0, more.stderr);
    assert.match(more.stdout, /replaced\s+server\.pem/);
    assert.match(more.stdout, /kept\s+agent-web-01\.pem/);
    assert.equal(cert(join(pki, "server.pem")).checkIP("10.0.0.6"), "10.0.0.6");
    const none = await cli(["pki", "init", "--dir", pki]);
    assert.match(none.stdout, /kept\s+server\.pem\s+server certificate\s+CN=cp\.example\.org/);
    assert.equal(cert(join(pki, "server.pem")).subject, "CN=cp.example.org");
  });

  test("pki init refuses a bad --server-ip as a usage error", async () => {
    const r = await cli(["pki", "init", "--dir", join(dir, "other"), "--server-ip", "10.0.0.300"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not an IP address: "10\.0\.0\.300"/);
  });

  test("pki issue-agent issues a clientAuth certificate from the existing CA", async () => {
    const r = await cli([
      "pki",
      "issue-agent",
      "web-09",
      "--dir",
      pki,
      "--agent-cn-suffix",
      "fleet.example",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^created agent certificate for web-09: CN=agent-web-09\.fleet\.example$/m,
    );
    const agent = cert(join(pki, "agent-web-09.pem"));
    assert.equal(agent.subject, "CN=agent-web-09.fleet.example");
    assert.deepEqual(agent.keyUsage, [CLIENT_AUTH]);
    assert.ok(agent.checkIssued(cert(join(pki, "ca.pem"))));
    assert.ok(agent.verify(cert(join(pki, "ca.pem")).publicKey));
    assert.equal(statSync(join(pki, "agent-web-09-key.pem")).mode & 0o777, 0o600);
    const again = await cli(["pki", "issue-agent", "web-09", "--dir", pki, "--json"]);
    assert.equal(again.code, 0, again.stderr);
    const out = JSON.parse(again.stdout) as { replaced: boolean; commonName: string };
    assert.deepEqual([out.replaced, out.commonName], [true, "agent-web-09.fleet.lab.internal"]);
    assert.notEqual(cert(join(pki, "agent-web-09.pem")).serialNumber, agent.serialNumber);
  });

  test("pki issue-agent without a CA fails (exit 1) and names the missing file", async () => {
    const r = await cli(["pki", "issue-agent", "web-09", "--dir", join(dir, "empty")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ca\.pem is missing/);
    const usage = await cli(["pki", "issue-agent", "--dir", pki]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /missing <host>/);
  });
});
