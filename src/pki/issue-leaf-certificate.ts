// Issues server and client (agent / operator) certificates signed by a fleet CA.
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { type IssuedCertificate, validityWindow } from "./issued-certificate.js";
import {
  ecdsaP256,
  exportPrivateKeyPem,
  generateKeyPair,
  importSigningKeyPem,
} from "./key-pair.js";
import { randomSerialNumber } from "./random-serial-number.js";
import { x509 } from "./x509.js";

/** What the certificate is for: it decides the extended key usage (and default SANs). */
export type LeafRole = "server" | "client";

/** Options for {@link issueLeafCertificate}. */
export interface LeafCertificateOptions {
  readonly commonName: string;
  readonly role: LeafRole;
  /** Extra DNS subjectAltNames (a server always gets `localhost`). */
  readonly dnsNames?: readonly string[];
  /** Extra IP subjectAltNames, v4 or v6 (a server always gets `127.0.0.1`). */
  readonly ipAddresses?: readonly string[];
  /**
   * Default: now, not backdated, because a revocation rejects certificates whose notBefore is
   * earlier than its own; a re-enrolled certificate must not predate the revocation.
   */
  readonly notBefore?: Date;
  /** Default: one year after the later of now and notBefore. */
  readonly notAfter?: Date;
}

const leafValidityDays = 365;
const serverDnsNames = ["localhost"];
const serverIpAddresses = ["127.0.0.1"];

/**
 * Issues an ECDSA P-256 leaf certificate signed by `ca` (a CA from
 * {@link issueCertificateAuthority} or any P-256 CA read from disk): CA:false, keyUsage
 * digitalSignature, EKU serverAuth (server) or clientAuth (client), subject and authority key
 * identifiers, a random serial, and subjectAltNames. A server certificate always carries
 * DNS:localhost and IP:127.0.0.1 because Go clients such as `buf curl` ignore the CN.
 * X.509 times have one-second precision: milliseconds in notBefore/notAfter are dropped, so a
 * certificate meant to follow an instant should be given a notBefore at least a second later.
 * Throws if `ca` is not a CA certificate or its key does not match it.
 */
export async function issueLeafCertificate(
  ca: IssuedCertificate,
  options: LeafCertificateOptions,
): Promise<IssuedCertificate> {
  if (options.commonName === "") throw new RangeError("commonName must not be empty");
  if (options.role !== "server" && options.role !== "client") {
    throw new RangeError(`role must be "server" or "client", got ${String(options.role)}`);
  }
  const { notBefore, notAfter } = validityWindow(
    options.notBefore,
    options.notAfter,
    leafValidityDays,
    new Date(),
  );
  const server = options.role === "server";
  const dnsNames = unique([...(server ? serverDnsNames : []), ...(options.dnsNames ?? [])]);
  const ipAddresses = unique([
    ...(server ? serverIpAddresses : []),
    ...(options.ipAddresses ?? []),
  ]);
  for (const name of dnsNames) {
    if (name === "") throw new RangeError("dnsNames must not contain an empty name");
  }
  for (const address of ipAddresses) {
    if (isIP(address) === 0) throw new RangeError(`not an IP address: ${address}`);
  }

  assertUsableCa(ca);
  const caCert = new x509.X509Certificate(ca.certPem);
  const signingKey = await importSigningKeyPem(ca.keyPem);
  const keys = await generateKeyPair();
  // Reusing the CA's own SKI keeps the AKI matching even for a CA whose SKI was derived
  // differently (e.g. made by openssl); only a CA without one gets a computed identifier.
  const caKeyId = caCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const authorityKeyId =
    caKeyId === undefined
      ? await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey)
      : new x509.AuthorityKeyIdentifierExtension(caKeyId);

  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([
      server ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
    ]),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    authorityKeyId,
  ];
  if (dnsNames.length > 0 || ipAddresses.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension([
        ...dnsNames.map((value) => ({ type: "dns" as const, value })),
        ...ipAddresses.map((value) => ({ type: "ip" as const, value })),
      ]),
    );
  }

  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: [{ CN: [options.commonName] }],
    // The CA's Name object, not its string form, so the issuer bytes equal the CA subject's.
    issuer: caCert.subjectName,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: ecdsaP256,
    extensions,
  });
  return { certPem: cert.toString("pem"), keyPem: await exportPrivateKeyPem(keys.privateKey) };
}

// Fails early: a leaf signed by a non-CA or a mismatched key would only fail later, in a
// handshake, with a far less helpful error.
function assertUsableCa(ca: IssuedCertificate): void {
  const cert = new X509Certificate(ca.certPem);
  if (!cert.ca) throw new Error("issuer certificate is not a CA (basicConstraints CA:false)");
  const certKey = cert.publicKey.export({ type: "spki", format: "der" });
  const ownKey = createPublicKey(createPrivateKey(ca.keyPem)).export({
    type: "spki",
    format: "der",
  });
  if (!certKey.equals(ownKey)) throw new Error("CA key does not match the CA certificate");
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
