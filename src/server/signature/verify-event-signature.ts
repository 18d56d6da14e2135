// Verifies an agent's per-event signature (SPEC §9) with the public key of the client
// certificate the request came in on.
import { type KeyObject, verify } from "node:crypto";
import { canonicalJson } from "./canonical-json.js";

/**
 * True when `signature` signs the RFC 8785 canonical JSON of `event` (its HTTP-binding shape)
 * with `publicKey`. ECDSA signatures may be DER or IEEE P1363 (r‖s); Ed25519 and Ed448 sign
 * the bytes directly; RSA uses PKCS#1 v1.5 with SHA-256.
 */
export function verifyEventSignature(
  publicKey: KeyObject,
  event: unknown,
  signature: Uint8Array,
): boolean {
  let text: string;
  try {
    text = canonicalJson(event);
  } catch {
    return false;
  }
  return verifySignedText(publicKey, text, signature);
}

/** True when `signature` signs the UTF-8 bytes of `text` with `publicKey` (as above). */
export function verifySignedText(
  publicKey: KeyObject,
  text: string,
  signature: Uint8Array,
): boolean {
  const data = Buffer.from(text, "utf8");
  const type = publicKey.asymmetricKeyType;
  try {
    if (type === "ed25519" || type === "ed448") return verify(null, data, publicKey, signature);
    if (type === "ec") {
      return (
        verify("sha256", data, { key: publicKey, dsaEncoding: "der" }, signature) ||
        verify("sha256", data, { key: publicKey, dsaEncoding: "ieee-p1363" }, signature)
      );
    }
    return verify("sha256", data, publicKey, signature);
  } catch {
    // A malformed signature (wrong length, bad DER) is simply not valid.
    return false;
  }
}
