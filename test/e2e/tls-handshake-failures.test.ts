// Failed TLS handshakes on the mTLS listener: each is counted by reason and logged with the
// peer address and the reason (rate-limited, see the unit test), none kills the server.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { Writable } from "node:stream";
import { test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import pino from "pino";
import { issueLeafCertificate } from "../../src/pki/issue-leaf-certificate.js";
import { startService } from "../../src/server/start-service.js";
import { cleanup, type Identity, makeTestPki, request, SUFFIX, testConfig } from "./harness.js";

/** Tries a TLS handshake (and one request, which TLS 1.3 needs to learn the verdict). */
function attempt(port: number, ca: string, identity: Identity | undefined): Promise<void> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      ca,
      ...(identity ? { cert: identity.cert, key: identity.key } : {}),
      ALPNProtocols: ["http/1.1"],
    });
    socket.once("secureConnect", () => socket.write("GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"));
    socket.on("data", () => {});
    socket.once("error", () => {});
    socket.once("close", () => resolve());
  });
}

/** Sends plain HTTP to the TLS port. */
function plainBytes(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = netConnect(port, "127.0.0.1", () => socket.write("GET / HTTP/1.1\r\n\r\n"));
    socket.on("data", () => {});
    socket.once("error", () => {});
    socket.once("close", () => resolve());
  });
}

test("failed handshakes are counted by reason and logged with the peer and the reason", async () => {
  const pki = await makeTestPki();
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n"))
        if (line !== "") lines.push(JSON.parse(line));
      done();
    },
  });
  const service = await startService(testConfig(pki), pino({ level: "info" }, sink));
  try {
    const expired = await issueLeafCertificate(
      { certPem: pki.ca, keyPem: readFileSync(pki.pki.caKeyPath, "utf8") },
      {
        commonName: `agent-web-01.${SUFFIX}`,
        role: "client",
        notBefore: new Date(Date.now() - 7200_000),
        notAfter: new Date(Date.now() - 3600_000),
      },
    );
    await attempt(service.port, pki.ca, undefined);
    await attempt(service.port, pki.ca, pki.foreign);
    await attempt(service.port, pki.ca, { cert: expired.certPem, key: expired.keyPem });
    await plainBytes(service.port);
    // The server still serves a good client.
    const ok = await request(`https://localhost:${service.port}`, pki.ca, pki.agent("h1"), {
      path: "/healthz",
      method: "GET",
    });
    assert.equal(ok.status, 200);

    const metrics = await service.metrics.registry.metrics();
    const count = (reason: string) =>
      Number(
        new RegExp(
          `^nixfleet_cp_tls_handshake_failures_total\\{reason="${reason}"\\} (\\d+)$`,
          "m",
        ).exec(metrics)?.[1],
      );
    assert.deepEqual(
      Object.fromEntries(
        [
          "no_certificate",
          "unknown_ca",
          "expired",
          "bad_certificate",
          "protocol",
          "timeout",
          "other",
        ].map((r) => [r, count(r)]),
      ),
      {
        no_certificate: 1,
        unknown_ca: 1,
        expired: 1,
        bad_certificate: 0,
        protocol: 1,
        timeout: 0,
        other: 0,
      },
    );
    const failures = lines.filter((l) => l["msg"] === "TLS handshake failed");
    assert.deepEqual(
      failures.map((l) => [l["peer"], l["reason"], l["detail"]]),
      [
        ["127.0.0.1", "no_certificate", "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE"],
        ["127.0.0.1", "unknown_ca", "UNABLE_TO_VERIFY_LEAF_SIGNATURE"],
        ["127.0.0.1", "expired", "CERT_HAS_EXPIRED"],
        ["127.0.0.1", "protocol", "ERR_SSL_HTTP_REQUEST"],
      ],
    );
  } finally {
    await service.shutdown();
    cleanup(pki);
  }
});
