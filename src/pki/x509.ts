// Binds @peculiar/x509 to Node's built-in WebCrypto once, so every pki file that imports the
// library through here signs and hashes with the same provider (no openssl, no extra deps).
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(globalThis.crypto);

export { x509 };
