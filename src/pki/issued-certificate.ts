// The shape every issuer in this folder returns, and validity-window defaults they share.

/** A certificate and its private key, both PEM (the key is unencrypted PKCS#8). */
export interface IssuedCertificate {
  readonly certPem: string;
  readonly keyPem: string;
}

const dayMs = 24 * 60 * 60 * 1000;

/**
 * Resolves a validity window. The default notAfter counts from the later of now and notBefore,
 * so a certificate deliberately backdated (e.g. to precede a revocation) is still valid today.
 */
export function validityWindow(
  notBefore: Date | undefined,
  notAfter: Date | undefined,
  defaultDays: number,
  now: Date,
): { notBefore: Date; notAfter: Date } {
  const from = notBefore ?? now;
  const until = notAfter ?? new Date(Math.max(now.getTime(), from.getTime()) + defaultDays * dayMs);
  if (Number.isNaN(from.getTime()) || Number.isNaN(until.getTime())) {
    throw new RangeError("notBefore and notAfter must be valid dates");
  }
  if (until.getTime() <= from.getTime()) {
    throw new RangeError("notAfter must be later than notBefore");
  }
  return { notBefore: from, notAfter: until };
}
