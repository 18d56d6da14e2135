// Reads the PEM files a command was pointed at and checks them before any connection, so a
// wrong path, a swapped file or a key of another certificate is reported as the local mistake
// it is, naming the flag and the file, instead of as a TLS failure of the server.
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { CommandError } from "./command-error.js";

/** A flag naming a file, and what to suggest when the file is missing. */
export interface PemSource {
  /** The flag, e.g. "ca" or "tls-cert". */
  readonly flag: string;
  readonly path: string;
  /** Appended to a "no such file" message, e.g. "run 'nixfleet-cp pki init'". */
  readonly hintWhenMissing: string;
}

function readText(source: PemSource): string {
  try {
    return readFileSync(source.path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const where = `--${source.flag} ${source.path}`;
    switch (code) {
      case "ENOENT":
        throw new CommandError(`${where}: no such file; ${source.hintWhenMissing}`);
      case "EISDIR":
        throw new CommandError(`${where}: is a directory; pass the PEM file in it`);
      case "EACCES":
        throw new CommandError(`${where}: permission denied`);
      default:
        throw new CommandError(`${where}: cannot read it (${code ?? (error as Error).message})`);
    }
  }
}

/** The PEM text of a certificate file (a bundle of several is fine), checked to parse. */
export function readCertificatePem(source: PemSource): {
  pem: string;
  certificate: X509Certificate;
} {
  const pem = readText(source);
  try {
    return { pem, certificate: new X509Certificate(pem) };
  } catch {
    const swapped = pem.includes("PRIVATE KEY-----") ? " (it holds a private key)" : "";
    throw new CommandError(
      `--${source.flag} ${source.path}: not a PEM certificate${swapped}; expected a "-----BEGIN CERTIFICATE-----" block`,
    );
  }
}

/** The PEM text of a private key file, checked to parse. */
export function readPrivateKeyPem(source: PemSource): { pem: string; key: KeyObject } {
  const pem = readText(source);
  try {
    return { pem, key: createPrivateKey(pem) };
  } catch {
    const swapped = pem.includes("BEGIN CERTIFICATE") ? " (it holds a certificate)" : "";
    throw new CommandError(
      `--${source.flag} ${source.path}: not a PEM private key${swapped}; expected a "-----BEGIN PRIVATE KEY-----" block`,
    );
  }
}

/** Reads a certificate and its key, checking that they belong together and that it is valid now. */
export function readKeyPair(
  cert: PemSource,
  key: PemSource,
  now: Date = new Date(),
): { cert: string; key: string } {
  const c = readCertificatePem(cert);
  const k = readPrivateKeyPem(key);
  if (!c.certificate.checkPrivateKey(k.key)) {
    throw new CommandError(
      `--${key.flag} ${key.path} is not the key of --${cert.flag} ${cert.path}; pass the key written with that certificate`,
    );
  }
  const notAfter = new Date(c.certificate.validTo);
  if (notAfter.getTime() < now.getTime()) {
    throw new CommandError(
      `--${cert.flag} ${cert.path} expired on ${notAfter.toISOString()}; issue a new one`,
    );
  }
  const notBefore = new Date(c.certificate.validFrom);
  if (notBefore.getTime() > now.getTime()) {
    throw new CommandError(
      `--${cert.flag} ${cert.path} is not valid before ${notBefore.toISOString()}; check the clock`,
    );
  }
  return { cert: c.pem, key: k.pem };
}
