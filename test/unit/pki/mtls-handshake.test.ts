// Real TLS handshakes on 127.0.0.1 with the issued certificates: what the CP's listener and
// its clients (agents, buf curl) will see.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { issueCertificateAuthority } from "../../../src/pki/issue-certificate-authority.js";
import { issueLeafCertificate } from "../../../src/pki/issue-leaf-certificate.js";
import type { IssuedCertificate } from "../../../src/pki/issued-certificate.js";
import { assertRefused, exchange, type Listener, listen } from "./tls-harness.js";

describe("mTLS with issued certificates", () => {
  let ca: IssuedCertificate;
  let server: IssuedCertificate;
  let agent: IssuedCertificate;
  let foreignAgent: IssuedCertificate;
  let lenient: Listener;
  let strict: Listener;

  before(async () => {
    ca = await issueCertificateAuthority({ commonName: "fleet CA" });
    server = await issueLeafCertificate(ca, { commonName: "nixfleet-cp", role: "server" });
    agent = await issueLeafCertificate(ca, {
      commonName: "agent-web-01.fleet.lab.internal",
      role: "client",
    });
    const foreignCa = await issueCertificateAuthority({ commonName: "fleet CA" });
    foreignAgent = await issueLeafCertificate(foreignCa, {
      commonName: "agent-web-01.fleet.lab.internal",
      role: "client",
    });
    lenient = await listen(ca, server, false);
    strict = await listen(ca, server, true);
  });

  after(() => {
    lenient.server.close();
    strict.server.close();
  });

  it("authorizes an agent certificate and shows its CN to the server", async () => {
    lenient.seen.length = 0;
    assert.equal(await exchange(lenient.port, agent, ca, "localhost"), "ok");
    assert.deepEqual(lenient.seen, [
      {
        authorized: true,
        authorizationError: undefined,
        commonName: "agent-web-01.fleet.lab.internal",
      },
    ]);
    assert.equal(await exchange(strict.port, agent, ca, "localhost"), "ok");
  });

  it("does not authorize a client certificate from another CA, even with the same names", async () => {
    lenient.seen.length = 0;
    assert.equal(await exchange(lenient.port, foreignAgent, ca, "localhost"), "ok");
    const [view] = lenient.seen;
    assert.equal(view?.authorized, false);
    assert.match(
      view?.authorizationError ?? "",
      /UNABLE_TO_(GET_ISSUER_CERT|VERIFY_LEAF_SIGNATURE)/,
    );
    await assertRefused(exchange(strict.port, foreignAgent, ca, "localhost"));
  });

  it("does not authorize a client that presents no certificate", async () => {
    lenient.seen.length = 0;
    await exchange(lenient.port, {}, ca, "localhost");
    assert.equal(lenient.seen[0]?.authorized, false);
    await assertRefused(exchange(strict.port, {}, ca, "localhost"));
  });

  it("does not accept a server certificate as a client certificate (EKU)", async () => {
    lenient.seen.length = 0;
    await exchange(lenient.port, server, ca, "localhost");
    assert.equal(lenient.seen[0]?.authorized, false);
    assert.match(lenient.seen[0]?.authorizationError ?? "", /PURPOSE/);
  });

  it("lets the client verify the server as localhost and as 127.0.0.1", async () => {
    assert.equal(await exchange(strict.port, agent, ca, "localhost"), "ok");
    // No servername: Node checks the connected IP against the IP subjectAltNames.
    assert.equal(await exchange(strict.port, agent, ca), "ok");
    await assert.rejects(exchange(strict.port, agent, ca, "cp.elsewhere.example"), {
      code: "ERR_TLS_CERT_ALTNAME_INVALID",
    });
  });

  it("makes the client refuse a server that chains to another CA", async () => {
    const foreignCa = await issueCertificateAuthority({ commonName: "other" });
    await assert.rejects(exchange(strict.port, agent, foreignCa, "localhost"));
  });
});
