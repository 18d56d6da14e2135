// The PKCS#12 writer: OpenSSL (through Node's TLS) loads what it writes with the right password
// and refuses a wrong one, and the dev PKI's operator .p12 holds the operator's own certificate.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect, createSecureContext, createServer, type TLSSocket } from "node:tls";
import { createDevPki, type DevPki } from "../../../src/pki/create-dev-pki.js";
import { DEV_P12_PASSWORD, encodePkcs12 } from "../../../src/pki/pkcs12.js";

describe("encodePkcs12", () => {
  let root: string;
  let pki: DevPki;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "nixfleet-p12-"));
    pki = await createDevPki(join(root, "pki"), { hosts: ["web-01"], operators: ["admin"] });
  });
  after(() => rm(root, { recursive: true, force: true }));

  it("writes a file OpenSSL loads with the password and refuses with another", async () => {
    const admin = pki.operators["admin"]!;
    const p12 = await readFile(admin.p12Path);
    assert.doesNotThrow(() => createSecureContext({ pfx: p12, passphrase: DEV_P12_PASSWORD }));
    assert.throws(() => createSecureContext({ pfx: p12, passphrase: "wrong" }), /mac verify/i);
  });

  it("carries the operator's certificate: a TLS server sees exactly that certificate", async () => {
    const admin = pki.operators["admin"]!;
    const ca = await readFile(pki.caPath, "utf8");
    const server = createServer({
      cert: await readFile(pki.serverCertPath, "utf8"),
      key: await readFile(pki.serverKeyPath, "utf8"),
      ca,
      requestCert: true,
      rejectUnauthorized: true,
    });
    const seen = new Promise<string>((resolve) =>
      server.once("secureConnection", (socket: TLSSocket) => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.end();
      }),
    );
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const socket = connect({
      host: "127.0.0.1",
      port: (server.address() as AddressInfo).port,
      servername: "localhost",
      ca,
      pfx: await readFile(admin.p12Path),
      passphrase: DEV_P12_PASSWORD,
    });
    try {
      const expected = new X509Certificate(await readFile(admin.certPath, "utf8"));
      assert.equal(await seen, expected.fingerprint256);
    } finally {
      socket.destroy();
      server.close();
    }
  });

  it("refuses a password it could not encode the same way everywhere", async () => {
    const admin = pki.operators["admin"]!;
    const cert = await readFile(admin.certPath, "utf8");
    const key = await readFile(admin.keyPath, "utf8");
    assert.throws(() => encodePkcs12(cert, key, "", "x"), /password/);
    assert.throws(() => encodePkcs12(cert, key, "pässword", "x"), /password/);
  });
});
