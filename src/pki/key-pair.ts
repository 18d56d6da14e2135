// ECDSA P-256 keys for the pki: generation, PEM export, and import of a PEM key for signing.
import { createPrivateKey, type webcrypto } from "node:crypto";

/** The one key algorithm this pki issues and signs with (ECDSA P-256, SHA-256 signatures). */
export const ecdsaP256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** A fresh, extractable P-256 key pair (extractable so the private key can be written as PEM). */
export async function generateKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return crypto.subtle.generateKey(ecdsaP256, true, ["sign", "verify"]);
}

/** The private key as a PKCS#8 PEM ("PRIVATE KEY"), which node:tls, Go and openssl all read. */
export async function exportPrivateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await crypto.subtle.exportKey("pkcs8", key));
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" }).export({
    format: "pem",
    type: "pkcs8",
  }) as string;
}

/**
 * Imports a PEM private key (PKCS#8 or SEC1 "EC PRIVATE KEY", as openssl may have written a
 * CA key) as a WebCrypto signing key. Throws unless it is a P-256 key, since a signature with
 * another curve would not match `ecdsaP256`.
 */
export async function importSigningKeyPem(keyPem: string): Promise<webcrypto.CryptoKey> {
  const key = createPrivateKey(keyPem);
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new Error("CA key must be an ECDSA P-256 key");
  }
  const der = key.export({ format: "der", type: "pkcs8" });
  return crypto.subtle.importKey("pkcs8", der, ecdsaP256, false, ["sign"]);
}
