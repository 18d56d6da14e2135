// Reads a certificate's identity the way SPEC §2 defines it, for tests and tooling.
import { x509 } from "./x509.js";

/**
 * The first CommonName of the certificate's subject, or undefined if it has none. Parsed from
 * the ASN.1 subject rather than Node's `subject` string, so commas or `=` in a CN survive.
 */
export function commonNameOf(certPem: string): string | undefined {
  return new x509.X509Certificate(certPem).subjectName.getField("CN")[0];
}
