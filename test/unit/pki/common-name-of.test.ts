// commonNameOf reads the first CN from the ASN.1 subject, special characters included.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { commonNameOf } from "../../../src/pki/common-name-of.js";
import { issueCertificateAuthority } from "../../../src/pki/issue-certificate-authority.js";
import { issueLeafCertificate } from "../../../src/pki/issue-leaf-certificate.js";

describe("commonNameOf", () => {
  it("returns the CN unchanged, even with commas and equals signs", async () => {
    const ca = await issueCertificateAuthority({ commonName: "ca, with=comma" });
    assert.equal(commonNameOf(ca.certPem), "ca, with=comma");
    const leaf = await issueLeafCertificate(ca, { commonName: "krach", role: "client" });
    assert.equal(commonNameOf(leaf.certPem), "krach");
  });
});
