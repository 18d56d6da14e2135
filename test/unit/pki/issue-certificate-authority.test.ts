// The fleet CA: self-signed, constrained to signing certificates, with a key identifier.
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { describe, it } from "node:test";
import * as x509 from "@peculiar/x509";
import { issueCertificateAuthority } from "../../../src/pki/issue-certificate-authority.js";

describe("issueCertificateAuthority", () => {
  it("issues a self-signed P-256 CA with critical CA:true and keyCertSign|cRLSign", async () => {
    const ca = await issueCertificateAuthority({ commonName: "test CA" });
    const cert = new X509Certificate(ca.certPem);
    assert.equal(cert.subject, "CN=test CA");
    assert.equal(cert.issuer, "CN=test CA");
    assert.equal(cert.ca, true);
    assert.ok(cert.verify(cert.publicKey), "self-signature verifies");
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");

    const parsed = new x509.X509Certificate(ca.certPem);
    const basic = parsed.getExtension(x509.BasicConstraintsExtension);
    assert.equal(basic?.ca, true);
    assert.equal(basic?.critical, true);
    const usage = parsed.getExtension(x509.KeyUsagesExtension);
    assert.equal(usage?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    assert.equal(usage?.critical, true);
    assert.match(
      parsed.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? "",
      /^[0-9a-f]+$/,
    );
  });

  it("returns a PKCS#8 key that belongs to the certificate", async () => {
    const ca = await issueCertificateAuthority({ commonName: "test CA" });
    assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    const key = createPrivateKey(ca.keyPem);
    assert.ok(new X509Certificate(ca.certPem).checkPrivateKey(key));
  });

  it("honours notBefore and notAfter", async () => {
    const notBefore = new Date("2024-01-02T03:04:05Z");
    const notAfter = new Date("2034-01-02T03:04:05Z");
    const cert = new X509Certificate(
      (await issueCertificateAuthority({ commonName: "dated CA", notBefore, notAfter })).certPem,
    );
    assert.equal(new Date(cert.validFrom).toISOString(), notBefore.toISOString());
    assert.equal(new Date(cert.validTo).toISOString(), notAfter.toISOString());
  });

  it("gives each CA a fresh key and serial", async () => {
    const a = new X509Certificate((await issueCertificateAuthority({ commonName: "a" })).certPem);
    const b = new X509Certificate((await issueCertificateAuthority({ commonName: "a" })).certPem);
    assert.notEqual(a.serialNumber, b.serialNumber);
    assert.ok(!a.publicKey.equals(b.publicKey));
  });

  it("rejects an empty CN and an inverted validity window", async () => {
    await assert.rejects(issueCertificateAuthority({ commonName: "" }), RangeError);
    await assert.rejects(
      issueCertificateAuthority({
        commonName: "x",
        notBefore: new Date("2030-01-01T00:00:00Z"),
        notAfter: new Date("2029-01-01T00:00:00Z"),
      }),
      RangeError,
    );
  });
});
