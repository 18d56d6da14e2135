// Server and client leaves: chain, key usages, subjectAltNames, validity and serials.
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { before, describe, it } from "node:test";
import { checkServerIdentity } from "node:tls";
import * as x509 from "@peculiar/x509";
import { commonNameOf } from "../../../src/pki/common-name-of.js";
import { issueCertificateAuthority } from "../../../src/pki/issue-certificate-authority.js";
import { issueLeafCertificate } from "../../../src/pki/issue-leaf-certificate.js";
import type { IssuedCertificate } from "../../../src/pki/issued-certificate.js";

const serverAuth = "1.3.6.1.5.5.7.3.1";
const clientAuth = "1.3.6.1.5.5.7.3.2";

describe("issueLeafCertificate", () => {
  let ca: IssuedCertificate;
  let caCert: X509Certificate;
  before(async () => {
    ca = await issueCertificateAuthority({ commonName: "leaf test CA" });
    caCert = new X509Certificate(ca.certPem);
  });

  it("signs a server certificate with the CA and serverAuth", async () => {
    const leaf = await issueLeafCertificate(ca, { commonName: "cp.example", role: "server" });
    const cert = new X509Certificate(leaf.certPem);
    assert.ok(cert.checkIssued(caCert));
    assert.ok(cert.verify(caCert.publicKey));
    assert.equal(cert.ca, false);
    assert.deepEqual(cert.keyUsage, [serverAuth]);
    assert.equal(commonNameOf(leaf.certPem), "cp.example");
    assert.ok(cert.checkPrivateKey(createPrivateKey(leaf.keyPem)));
  });

  it("references the CA's subject key identifier as authority key identifier", async () => {
    const leaf = await issueLeafCertificate(ca, { commonName: "c", role: "client" });
    const caKeyId = new x509.X509Certificate(ca.certPem).getExtension(
      x509.SubjectKeyIdentifierExtension,
    )?.keyId;
    const aki = new x509.X509Certificate(leaf.certPem).getExtension(
      x509.AuthorityKeyIdentifierExtension,
    );
    assert.ok(caKeyId);
    assert.equal(aki?.keyId, caKeyId);
  });

  it("gives a server DNS:localhost and IP:127.0.0.1 by default, plus given names", async () => {
    const plain = new X509Certificate(
      (await issueLeafCertificate(ca, { commonName: "srv", role: "server" })).certPem,
    );
    assert.equal(plain.subjectAltName, "DNS:localhost, IP Address:127.0.0.1");
    const extra = new X509Certificate(
      (
        await issueLeafCertificate(ca, {
          commonName: "srv",
          role: "server",
          dnsNames: ["cp.fleet.lab.internal", "localhost"],
          ipAddresses: ["10.0.0.7", "::1"],
        })
      ).certPem,
    );
    assert.equal(
      extra.subjectAltName,
      "DNS:localhost, DNS:cp.fleet.lab.internal, IP Address:127.0.0.1, IP Address:10.0.0.7, " +
        "IP Address:0:0:0:0:0:0:0:1",
    );
  });

  it("verifies for hostname localhost and IP 127.0.0.1 but not for another name", async () => {
    const leaf = await issueLeafCertificate(ca, { commonName: "not-a-hostname", role: "server" });
    const peer = new X509Certificate(leaf.certPem).toLegacyObject();
    assert.equal(checkServerIdentity("localhost", peer), undefined);
    assert.equal(checkServerIdentity("127.0.0.1", peer), undefined);
    assert.ok(checkServerIdentity("not-a-hostname", peer) instanceof Error, "CN is ignored");
    assert.ok(checkServerIdentity("10.0.0.1", peer) instanceof Error);
  });

  it("signs a client certificate with clientAuth and no default SAN", async () => {
    const leaf = await issueLeafCertificate(ca, {
      commonName: "agent-web-01.fleet.lab.internal",
      role: "client",
    });
    const cert = new X509Certificate(leaf.certPem);
    assert.deepEqual(cert.keyUsage, [clientAuth]);
    assert.equal(cert.subjectAltName, undefined);
    assert.equal(commonNameOf(leaf.certPem), "agent-web-01.fleet.lab.internal");
  });

  it("honours a notBefore override (before and after a revocation instant)", async () => {
    const revokedAt = new Date("2026-05-16T12:00:00Z");
    const early = new Date(revokedAt.getTime() - 60_000);
    const late = new Date(revokedAt.getTime() + 1_000);
    for (const notBefore of [early, late]) {
      const cert = new X509Certificate(
        (await issueLeafCertificate(ca, { commonName: "agent-x.s", role: "client", notBefore }))
          .certPem,
      );
      assert.equal(new Date(cert.validFrom).getTime(), notBefore.getTime());
      // Backdated or not, the certificate is valid today: notAfter counts from now at least.
      assert.ok(new Date(cert.validTo).getTime() > Date.now());
    }
  });

  it("drops milliseconds: X.509 times have one-second precision", async () => {
    const cert = new X509Certificate(
      (
        await issueLeafCertificate(ca, {
          commonName: "ms",
          role: "client",
          notBefore: new Date("2026-05-16T12:00:00.900Z"),
        })
      ).certPem,
    );
    assert.equal(new Date(cert.validFrom).toISOString(), "2026-05-16T12:00:00.000Z");
  });

  it("defaults notBefore to now and notAfter to a year later", async () => {
    const start = Math.floor(Date.now() / 1000) * 1000;
    const cert = new X509Certificate(
      (await issueLeafCertificate(ca, { commonName: "now", role: "client" })).certPem,
    );
    const from = new Date(cert.validFrom).getTime();
    assert.ok(from >= start && from <= Date.now(), `validFrom ${cert.validFrom}`);
    const days = (new Date(cert.validTo).getTime() - from) / 86_400_000;
    assert.ok(days >= 364.9 && days <= 365.1, `validity ${days} days`);
  });

  it("uses a random serial for every certificate", async () => {
    const serials = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const leaf = await issueLeafCertificate(ca, { commonName: "same", role: "client" });
      serials.add(new X509Certificate(leaf.certPem).serialNumber);
    }
    assert.equal(serials.size, 5);
  });

  it("rejects bad input and an unusable CA", async () => {
    await assert.rejects(issueLeafCertificate(ca, { commonName: "", role: "client" }), RangeError);
    await assert.rejects(
      issueLeafCertificate(ca, { commonName: "s", role: "server", ipAddresses: ["localhost"] }),
      RangeError,
    );
    const leaf = await issueLeafCertificate(ca, { commonName: "leaf", role: "client" });
    await assert.rejects(
      issueLeafCertificate(leaf, { commonName: "x", role: "client" }),
      /not a CA/,
    );
    const other = await issueCertificateAuthority({ commonName: "other" });
    await assert.rejects(
      issueLeafCertificate(
        { certPem: ca.certPem, keyPem: other.keyPem },
        {
          commonName: "x",
          role: "client",
        },
      ),
      /does not match/,
    );
  });
});
