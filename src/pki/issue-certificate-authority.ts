// Issues a self-signed fleet CA that signs the server, agent and operator certificates.
import { type IssuedCertificate, validityWindow } from "./issued-certificate.js";
import { ecdsaP256, exportPrivateKeyPem, generateKeyPair } from "./key-pair.js";
import { randomSerialNumber } from "./random-serial-number.js";
import { x509 } from "./x509.js";

/** Options for {@link issueCertificateAuthority}. */
export interface CertificateAuthorityOptions {
  readonly commonName: string;
  /** Default: one hour ago, so a verifier whose clock lags a little still accepts the CA. */
  readonly notBefore?: Date;
  /** Default: ten years after the later of now and notBefore. */
  readonly notAfter?: Date;
}

const caValidityDays = 3650;
const clockSkewMs = 60 * 60 * 1000;

/**
 * Issues a self-signed ECDSA P-256 CA: basicConstraints CA:true (critical, pathlen 0: it signs
 * leaves only), keyUsage keyCertSign|cRLSign (critical), a subject key identifier that leaves
 * reference as their authority key identifier, and a random serial. X.509 times have
 * one-second precision: milliseconds in notBefore/notAfter are dropped.
 */
export async function issueCertificateAuthority(
  options: CertificateAuthorityOptions,
): Promise<IssuedCertificate> {
  if (options.commonName === "") throw new RangeError("commonName must not be empty");
  const now = new Date();
  const { notBefore, notAfter } = validityWindow(
    options.notBefore ?? new Date(now.getTime() - clockSkewMs),
    options.notAfter,
    caValidityDays,
    now,
  );
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumber(),
    name: [{ CN: [options.commonName] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: ecdsaP256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await exportPrivateKeyPem(keys.privateKey) };
}
