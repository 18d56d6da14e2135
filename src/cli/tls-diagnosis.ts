// Explains a failed call whose transport error says little ("http/2 stream closed", "Internal:
// self-signed certificate"): one more TLS connection to the server tells whose certificate is
// the problem and what to pass instead. Under TLS 1.3 a server refuses a client certificate
// after the client's handshake is done, and Node's server sends no alert: the connection just
// closes before the server's first HTTP/2 frame, which is how the refusal is recognised.
import { X509Certificate } from "node:crypto";
import { connect, type TLSSocket } from "node:tls";

/** What the failed call presented. */
export interface TlsAttempt {
  readonly server: string;
  readonly caPath: string;
  readonly certPath: string;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** Verification failures of the server's certificate, by Node's error code. */
const UNTRUSTED_SERVER = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
]);

type Outcome =
  | { kind: "error"; code: string; message: string }
  | { kind: "closed-silently" }
  | { kind: "fine" };

function probe(attempt: TlsAttempt): Promise<Outcome> {
  const url = new URL(attempt.server);
  return new Promise((resolve) => {
    let socket: TLSSocket | undefined;
    const done = (outcome: Outcome) => {
      clearTimeout(timer);
      socket?.destroy();
      resolve(outcome);
    };
    // Bounded: a server that hangs is diagnosed as nothing in particular.
    const timer = setTimeout(() => done({ kind: "fine" }), 5000);
    socket = connect({
      host: url.hostname.replace(/^\[|\]$/g, ""),
      port: Number(url.port || 443),
      servername: /^[\d.]+$|:/.test(url.hostname) ? undefined : url.hostname,
      ca: attempt.ca,
      cert: attempt.cert,
      key: attempt.key,
      ALPNProtocols: ["h2"],
    });
    let received = false;
    socket.on("data", () => {
      // An HTTP/2 server speaks first (SETTINGS): it accepted the connection.
      received = true;
      done({ kind: "fine" });
    });
    socket.on("error", (error: NodeJS.ErrnoException) =>
      done({ kind: "error", code: error.code ?? "", message: error.message }),
    );
    socket.on("close", () => done(received ? { kind: "fine" } : { kind: "closed-silently" }));
  });
}

function issuerOf(pem: string): string {
  try {
    return new X509Certificate(pem).issuer.split("\n").join(", ");
  } catch {
    return "unknown issuer";
  }
}

/** A message naming the TLS problem of `attempt` and what to do, or undefined if none is seen. */
export async function diagnoseTls(attempt: TlsAttempt): Promise<string | undefined> {
  const outcome = await probe(attempt);
  const refused = `${attempt.server} refused the client certificate --cert ${attempt.certPath} (issued by ${issuerOf(attempt.cert)})`;
  const refusedHint =
    "pass a certificate issued by the CA the server trusts (its --client-ca), e.g. one 'nixfleet-cp pki init' wrote next to that CA";
  // TLS 1.2 refusals come as a reset during the handshake, or as an alert from other servers.
  if (
    outcome.kind === "closed-silently" ||
    (outcome.kind === "error" && outcome.code === "ECONNRESET")
  ) {
    return `${refused}: it closed the connection during the TLS handshake or right after it; ${refusedHint}`;
  }
  if (outcome.kind !== "error") return undefined;
  const { code, message } = outcome;
  if (UNTRUSTED_SERVER.has(code)) {
    return `cannot verify ${attempt.server}: its certificate is not signed by --ca ${attempt.caPath} (${message}); pass the CA that issued the server's certificate`;
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return `cannot verify ${attempt.server}: ${message}; use a --server name the certificate was issued for`;
  }
  if (code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID") {
    return `cannot verify ${attempt.server}: its certificate is ${code === "CERT_HAS_EXPIRED" ? "expired" : "not yet valid"}`;
  }
  if (/^ERR_SSL_.*ALERT/.test(code)) {
    const alert = /alert (.+)$/.exec(message)?.[1] ?? code;
    return `${refused}: TLS alert "${alert.replace(/^number \d+$/, code)}"; ${refusedHint}`;
  }
  return undefined;
}
