// Certificate serial numbers: random, so re-issued certificates never collide with old ones.

/**
 * 128 random bits as hex (RFC 5280 allows up to 20 octets; CA/B asks for at least 64 random
 * bits). The x509 library strips leading zeros and adds a sign octet, keeping it positive.
 */
export function randomSerialNumber(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex");
}
