// The on-disk dev PKI: layout, modes, CNs, idempotence, repair, atomic creation, and that its
// files work for a real mTLS handshake.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { commonNameOf } from "../../../src/pki/common-name-of.js";
import { createDevPki, type DevPki } from "../../../src/pki/create-dev-pki.js";
import { exchange, listen } from "./tls-harness.js";

const defaultFiles = [
  "agent-db-01-key.pem",
  "agent-db-01.pem",
  "agent-web-01-key.pem",
  "agent-web-01.pem",
  "agent-web-02-key.pem",
  "agent-web-02.pem",
  "ca-key.pem",
  "ca.pem",
  "operator-admin-key.pem",
  "operator-admin.p12",
  "operator-admin.pem",
  "server-key.pem",
  "server.pem",
];

/** Every file's bytes and mtime, to prove a call changed nothing. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    out[name] = `${(await stat(path)).mtimeMs} ${await readFile(path, "utf8")}`;
  }
  return out;
}

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

describe("createDevPki", () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "nixfleet-pki-test-"));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("creates the default layout with mode 0700 and 0600 keys", async () => {
    const dir = join(root, "default", "pki");
    const pki = await createDevPki(dir);
    assert.equal(pki.dir, dir);
    assert.deepEqual((await readdir(dir)).sort(), defaultFiles);
    assert.equal(await modeOf(dir), 0o700);
    for (const name of defaultFiles.filter((n) => n.endsWith("-key.pem"))) {
      assert.equal(await modeOf(join(dir, name)), 0o600, name);
    }
    assert.deepEqual(Object.keys(pki.agents), ["web-01", "web-02", "db-01"]);
    assert.deepEqual(pki.agents["web-01"], {
      certPath: join(dir, "agent-web-01.pem"),
      keyPath: join(dir, "agent-web-01-key.pem"),
      commonName: "agent-web-01.fleet.lab.internal",
    });
    assert.deepEqual(pki.operators["admin"], {
      certPath: join(dir, "operator-admin.pem"),
      keyPath: join(dir, "operator-admin-key.pem"),
      commonName: "operator-admin.fleet.lab.internal",
      p12Path: join(dir, "operator-admin.p12"),
    });
    assert.equal(pki.caPath, join(dir, "ca.pem"));
    assert.equal(pki.serverCertPath, join(dir, "server.pem"));
    assert.equal(pki.serverKeyPath, join(dir, "server-key.pem"));
  });

  it("writes certificates whose CNs, issuer and key usages match the plan", async () => {
    const pki = await createDevPki(join(root, "default", "pki"));
    const ca = new X509Certificate(await readFile(pki.caPath, "utf8"));
    for (const identity of [...Object.values(pki.agents), ...Object.values(pki.operators)]) {
      const pem = await readFile(identity.certPath, "utf8");
      assert.equal(commonNameOf(pem), identity.commonName);
      const cert = new X509Certificate(pem);
      assert.ok(cert.verify(ca.publicKey), identity.commonName);
      assert.deepEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.2"]);
    }
    const server = new X509Certificate(await readFile(pki.serverCertPath, "utf8"));
    assert.ok(server.verify(ca.publicKey));
    assert.equal(server.subjectAltName, "DNS:localhost, IP Address:127.0.0.1");
  });

  it("returns the same files unchanged when called twice", async () => {
    const dir = join(root, "twice");
    const first = await createDevPki(dir);
    const before = await snapshot(dir);
    const second = await createDevPki(dir);
    assert.deepEqual(second, first);
    assert.deepEqual(await snapshot(dir), before);
  });

  it("uses the given suffix, hosts and operators", async () => {
    const dir = join(root, "custom");
    const pki = await createDevPki(dir, {
      agentCnSuffix: "example.org",
      hosts: ["krach", "a.b"],
      operators: ["ci", "ops"],
    });
    assert.equal(pki.agents["a.b"]?.commonName, "agent-a.b.example.org");
    assert.equal(
      commonNameOf(await readFile(pki.agents["krach"]!.certPath, "utf8")),
      "agent-krach.example.org",
    );
    assert.equal(pki.operators["ops"]?.commonName, "operator-ops.example.org");
    assert.equal((await readdir(dir)).length, 4 + 2 * 2 + 2 * 3);
  });

  it("issues only what is missing, from the existing CA, and keeps the rest", async () => {
    const dir = join(root, "grow");
    const pki = await createDevPki(dir, { hosts: ["web-01"] });
    const caBefore = await readFile(pki.caPath, "utf8");
    const web01Before = await readFile(pki.agents["web-01"]!.certPath, "utf8");
    await rm(pki.operators["admin"]!.keyPath);

    const grown = await createDevPki(dir, { hosts: ["web-01", "web-02"] });
    assert.equal(await readFile(grown.caPath, "utf8"), caBefore);
    assert.equal(await readFile(grown.agents["web-01"]!.certPath, "utf8"), web01Before);
    const ca = new X509Certificate(caBefore);
    for (const identity of [grown.agents["web-02"]!, grown.operators["admin"]!]) {
      const cert = new X509Certificate(await readFile(identity.certPath, "utf8"));
      assert.ok(cert.verify(ca.publicKey), identity.commonName);
      assert.equal(await modeOf(identity.keyPath), 0o600);
    }
    assert.ok(!(await readdir(dir)).some((name) => name.includes(".tmp-")));
  });

  it("re-issues a certificate whose CN no longer matches the suffix", async () => {
    const dir = join(root, "resuffix");
    await createDevPki(dir, { hosts: ["web-01"], operators: [] });
    const pki = await createDevPki(dir, {
      hosts: ["web-01"],
      operators: [],
      agentCnSuffix: "new.test",
    });
    assert.equal(
      commonNameOf(await readFile(pki.agents["web-01"]!.certPath, "utf8")),
      "agent-web-01.new.test",
    );
  });

  it("creates into an existing empty directory", async () => {
    const dir = join(root, "empty");
    await mkdir(dir, { mode: 0o755 });
    await createDevPki(dir);
    assert.deepEqual((await readdir(dir)).sort(), defaultFiles);
    assert.equal(await modeOf(dir), 0o700);
  });

  it("refuses to write into a non-empty directory that holds no CA", async () => {
    const dir = join(root, "foreign");
    await mkdir(dir);
    await writeFile(join(dir, "notes.txt"), "mine");
    await assert.rejects(createDevPki(dir), /refusing to overwrite/);
    assert.deepEqual(await readdir(dir), ["notes.txt"]);
  });

  it("refuses a CA whose key does not match, and a path that is a file", async () => {
    const dir = join(root, "mismatch");
    const pki = await createDevPki(dir, { hosts: [], operators: [] });
    await writeFile(pki.caKeyPath, await readFile(pki.serverKeyPath, "utf8"));
    await assert.rejects(createDevPki(dir), /does not match ca-key\.pem/);
    const file = join(root, "a-file");
    await writeFile(file, "");
    await assert.rejects(createDevPki(file), /not a directory/);
  });

  it("rejects names that are unsafe as file names or would collide", async () => {
    await assert.rejects(createDevPki(join(root, "bad1"), { hosts: ["../x"] }), RangeError);
    await assert.rejects(createDevPki(join(root, "bad2"), { hosts: ["x", "x-key"] }), RangeError);
    await assert.rejects(createDevPki(join(root, "bad3"), { agentCnSuffix: "" }), RangeError);
  });

  it("lets concurrent callers agree on one PKI and leaves no temp directories", async () => {
    const parent = join(root, "race");
    const dir = join(parent, "pki");
    const results = await Promise.all([createDevPki(dir), createDevPki(dir), createDevPki(dir)]);
    assert.deepEqual(results[1], results[0]);
    assert.deepEqual(await readdir(parent), ["pki"]);
    const ca = new X509Certificate(await readFile(join(dir, "ca.pem"), "utf8"));
    const web01 = new X509Certificate(await readFile(join(dir, "agent-web-01.pem"), "utf8"));
    assert.ok(web01.verify(ca.publicKey));
  });

  it("produces files that complete an mTLS handshake", async () => {
    const pki: DevPki = await createDevPki(join(root, "default", "pki"));
    const read = (path: string) => readFile(path, "utf8");
    const ca = { certPem: await read(pki.caPath), keyPem: await read(pki.caKeyPath) };
    const server = {
      certPem: await read(pki.serverCertPath),
      keyPem: await read(pki.serverKeyPath),
    };
    const agent = pki.agents["db-01"]!;
    const listener = await listen(ca, server, false);
    try {
      const client = { certPem: await read(agent.certPath), keyPem: await read(agent.keyPath) };
      assert.equal(await exchange(listener.port, client, ca, "localhost"), "ok");
      assert.deepEqual(listener.seen, [
        { authorized: true, authorizationError: undefined, commonName: agent.commonName },
      ]);
    } finally {
      listener.server.close();
    }
  });
});
