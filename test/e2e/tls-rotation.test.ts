// Certificate rotation without a restart: the server certificate and the client CA are
// replaced (a new agent CA), then SIGHUP or the file change alone makes new connections use
// them while an open connection keeps working; a broken file keeps the last good set.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { connect as http2Connect } from "node:http2";
import { join } from "node:path";
import { test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import pino from "pino";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { issueCertificateAuthority } from "../../src/pki/issue-certificate-authority.js";
import { issueLeafCertificate } from "../../src/pki/issue-leaf-certificate.js";
import { startService } from "../../src/server/start-service.js";
import {
  cleanup,
  client,
  type Identity,
  makeTestPki,
  SUFFIX,
  spawnServer,
  type TestPki,
  testConfig,
} from "./harness.js";

interface TlsDir {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** Copies the PKI's server certificate, key and CA into their own dir, to be replaced. */
function tlsDir(pki: TestPki): TlsDir {
  const dir = join(pki.dir, "tls");
  mkdirSync(dir);
  const files = {
    cert: join(dir, "server.pem"),
    key: join(dir, "server-key.pem"),
    ca: join(dir, "ca.pem"),
  };
  copyFileSync(pki.pki.serverCertPath, files.cert);
  copyFileSync(pki.pki.serverKeyPath, files.key);
  copyFileSync(pki.pki.caPath, files.ca);
  return files;
}

/** Replaces `path` the way deployment tools do: write a temp file, rename it over. */
function replaceAtomically(path: string, content: string): void {
  writeFileSync(`${path}.new`, content);
  renameSync(`${path}.new`, path);
}

/** A new agent CA, a server certificate and an agent certificate (web-01) from it. */
async function newGeneration() {
  const ca = await issueCertificateAuthority({ commonName: "rotated fleet CA" });
  const server = await issueLeafCertificate(ca, { commonName: "localhost", role: "server" });
  const agent = await issueLeafCertificate(ca, {
    commonName: `agent-web-01.${SUFFIX}`,
    role: "client",
  });
  return {
    caPem: ca.certPem,
    server,
    agent: { cert: agent.certPem, key: agent.keyPem } satisfies Identity,
  };
}

/** The fingerprint of the certificate a new connection is shown, and whether it was accepted. */
function handshake(
  port: number,
  identity: Identity,
): Promise<{ fingerprint: string; accepted: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      rejectUnauthorized: false,
      cert: identity.cert,
      key: identity.key,
      ALPNProtocols: ["http/1.1"],
    });
    let fingerprint = "";
    let body = "";
    socket.once("secureConnect", () => {
      fingerprint = socket.getPeerCertificate().fingerprint256;
      // TLS 1.3 verifies the client after the client's handshake ends: only an answer proves it.
      socket.write("GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
    });
    socket.on("data", (c: Buffer) => {
      body += c.toString();
    });
    socket.once("error", (error) => {
      if (fingerprint === "") reject(error);
    });
    socket.once("close", () => resolve({ fingerprint, accepted: body.startsWith("HTTP/1.1 200") }));
  });
}

const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256;

async function waitFor(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** GET over an HTTP/2 session that stays open across the rotation. */
function get(session: ReturnType<typeof http2Connect>, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": "GET", ":path": path });
    let status = 0;
    stream.on("response", (h) => {
      status = Number(h[":status"]);
    });
    stream.on("error", reject);
    stream.resume();
    stream.on("end", () => resolve(status));
  });
}

test("SIGHUP rotates the server certificate and the client CA; a broken file keeps the old set", async () => {
  const pki = await makeTestPki();
  const files = tlsDir(pki);
  const server = await spawnServer({
    flags: [
      "--listen",
      "127.0.0.1:0",
      "--state-dir",
      pki.dir,
      "--tls-cert",
      files.cert,
      "--tls-key",
      files.key,
      "--client-ca",
      files.ca,
      "--agent-cn-suffix",
      SUFFIX,
      "--metrics-listen",
      "127.0.0.1:0",
    ],
  });
  const oldAgent = pki.agent("web-01");
  const open = http2Connect(server.url, { ca: pki.ca, cert: oldAgent.cert, key: oldAgent.key });
  try {
    const metricsPort = Number(/"metricsPort":(\d+)/.exec(server.output())?.[1]);
    assert.equal(await get(open, "/healthz"), 200);
    const before = await handshake(server.port, oldAgent);
    assert.deepEqual(before, {
      fingerprint: fingerprintOf(readFileSync(pki.pki.serverCertPath, "utf8")),
      accepted: true,
    });

    const next = await newGeneration();
    replaceAtomically(files.key, next.server.keyPem);
    replaceAtomically(files.cert, next.server.certPem);
    replaceAtomically(files.ca, next.caPem);
    server.child.kill("SIGHUP");
    await waitFor("the reload", () => server.output().includes("TLS material reloaded"));

    // New connections see the new certificate; the new CA's agents get in, the old ones not.
    assert.deepEqual(await handshake(server.port, next.agent), {
      fingerprint: fingerprintOf(next.server.certPem),
      accepted: true,
    });
    assert.equal((await handshake(server.port, oldAgent)).accepted, false);
    const health = client(Health, server.url, next.caPem, next.agent, "grpc");
    assert.equal((await health.check({})).status, 1);
    // The connection opened before the rotation is untouched.
    assert.equal(await get(open, "/readyz"), 200);

    // A broken certificate file: logged, counted, and the last good set keeps serving.
    replaceAtomically(
      files.cert,
      "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n",
    );
    server.child.kill("SIGHUP");
    await waitFor("the refusal", () => server.output().includes("TLS material not reloaded"));
    assert.match(server.output(), /"reason":"server certificate [^"]*server\.pem: [^"]+"/);
    assert.deepEqual(await handshake(server.port, next.agent), {
      fingerprint: fingerprintOf(next.server.certPem),
      accepted: true,
    });

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, /^nixfleet_cp_tls_reloads_total\{result="success"\} 1$/m);
    assert.match(metrics, /^nixfleet_cp_tls_reloads_total\{result="failure"\} 1$/m);
    const notAfter = Date.parse(new X509Certificate(next.server.certPem).validTo) / 1000;
    assert.match(
      metrics,
      new RegExp(`^nixfleet_cp_tls_certificate_not_after_seconds ${notAfter}$`, "m"),
    );
  } finally {
    open.destroy();
    server.child.kill("SIGTERM");
    await server.exited;
    cleanup(pki);
  }
});

test("replacing the files by rename is picked up without a signal", async () => {
  const pki = await makeTestPki();
  const files = tlsDir(pki);
  const service = await startService(
    testConfig(pki, ["--tls-cert", files.cert, "--tls-key", files.key, "--client-ca", files.ca]),
    pino({ level: "silent" }),
  );
  try {
    const next = await newGeneration();
    replaceAtomically(files.ca, next.caPem);
    replaceAtomically(files.key, next.server.keyPem);
    replaceAtomically(files.cert, next.server.certPem);
    await waitFor("the new certificate", async () => {
      const seen = await handshake(service.port, next.agent);
      return seen.fingerprint === fingerprintOf(next.server.certPem) && seen.accepted;
    });
    // A key that does not match the certificate is refused; the served set stays.
    const other = await newGeneration();
    replaceAtomically(files.key, other.server.keyPem);
    await waitFor("the refusal", async () =>
      (await service.metrics.registry.metrics()).includes(
        'nixfleet_cp_tls_reloads_total{result="failure"} 1',
      ),
    );
    const seen = await handshake(service.port, next.agent);
    assert.deepEqual(seen, { fingerprint: fingerprintOf(next.server.certPem), accepted: true });
  } finally {
    await service.shutdown();
    cleanup(pki);
  }
});
