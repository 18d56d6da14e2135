// Failed TLS handshakes on the mTLS listener (missing, foreign or expired client certificates,
// non-TLS bytes, timeouts): one counter by a bounded reason and a rate-limited log line each.
import type { Socket } from "node:net";
import type { TLSSocket, Server as TlsServer } from "node:tls";
import type { HandshakeFailureReason } from "./metrics.js";
import { rateLimitedLog } from "./rate-limited-log.js";

/** What a handshake-failure log line says. */
export interface HandshakeFailure {
  readonly peer: string | undefined;
  readonly reason: HandshakeFailureReason;
  /** OpenSSL's verification result or Node's error code, e.g. CERT_HAS_EXPIRED. */
  readonly detail: string;
  /** Lines left out since the previous one because of the rate limit. */
  readonly suppressed?: number;
}

const UNKNOWN_CA = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
]);
const EXPIRED = new Set(["CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID"]);

/**
 * Classifies a 'tlsClientError'. A certificate that fails verification surfaces only as the
 * socket's `authorizationError` (Node then destroys the socket, so the error itself is a bare
 * ECONNRESET); everything else is in the error's code.
 */
export function classifyHandshakeFailure(
  error: Error & { code?: string },
  socket: Pick<TLSSocket, "authorizationError"> | undefined,
): { reason: HandshakeFailureReason; detail: string } {
  const verify = socket?.authorizationError as unknown as string | Error | null | undefined;
  const verifyCode = verify instanceof Error ? (verify as { code?: string }).code : verify;
  if (typeof verifyCode === "string" && verifyCode !== "") {
    const reason = UNKNOWN_CA.has(verifyCode)
      ? "unknown_ca"
      : EXPIRED.has(verifyCode)
        ? "expired"
        : "bad_certificate";
    return { reason, detail: verifyCode };
  }
  const code = error.code ?? "";
  const detail = code === "" ? error.message : code;
  if (code === "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE")
    return { reason: "no_certificate", detail };
  if (code === "ERR_TLS_HANDSHAKE_TIMEOUT") return { reason: "timeout", detail };
  if (code.startsWith("ERR_SSL_")) return { reason: "protocol", detail };
  return { reason: "other", detail };
}

/** Options for {@link createHandshakeFailureHandler}. */
export interface HandshakeFailureOptions {
  readonly count: (reason: HandshakeFailureReason) => void;
  readonly log: (failure: HandshakeFailure) => void;
  /** Most log lines per window; the counter still counts every failure. Default 10. */
  readonly linesPerWindow?: number;
  /** Default 10 000 ms. */
  readonly windowMs?: number;
  readonly now?: () => number;
}

/**
 * A 'tlsClientError' listener: counts every failure and logs at most `linesPerWindow` per
 * window, so a scanner or a misconfigured fleet cannot flood the log; the next line logged
 * says how many were left out.
 */
export function createHandshakeFailureHandler(
  options: HandshakeFailureOptions,
): (error: Error, socket: TLSSocket | undefined) => void {
  const log = rateLimitedLog(options.log, options);
  return (error, socket) => {
    const { reason, detail } = classifyHandshakeFailure(error, socket);
    options.count(reason);
    log({ peer: peerAddressOf(socket), reason, detail });
  };
}

/**
 * Makes the peer address of a failed handshake loggable: when a client certificate fails
 * verification Node destroys the socket before 'tlsClientError', and a destroyed socket
 * reports an address only if it was read before (net.Socket caches it on first read).
 */
export function rememberPeerAddresses(server: Pick<TlsServer, "on">): void {
  server.on("connection", (socket: Socket) => {
    void socket.remoteAddress;
  });
}

function peerAddressOf(socket: TLSSocket | undefined): string | undefined {
  if (socket === undefined) return undefined;
  return socket.remoteAddress ?? (socket as { _parent?: Socket })._parent?.remoteAddress;
}
