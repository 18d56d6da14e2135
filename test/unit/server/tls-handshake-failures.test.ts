// Handshake failures: every reason maps into the bounded label set; the log is rate-limited
// while the counter counts everything.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { TLSSocket } from "node:tls";
import type { HandshakeFailureReason } from "../../../src/server/metrics.js";
import {
  classifyHandshakeFailure,
  createHandshakeFailureHandler,
  type HandshakeFailure,
} from "../../../src/server/tls-handshake-failures.js";

const error = (code?: string) => Object.assign(new Error("x"), code ? { code } : {});
const socket = (authorizationError: string | null) =>
  ({ authorizationError, remoteAddress: "192.0.2.7" }) as unknown as TLSSocket;

describe("classifyHandshakeFailure", () => {
  const cases: [string, Error, string | null, HandshakeFailureReason][] = [
    ["no certificate", error("ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE"), null, "no_certificate"],
    ["foreign CA", error("ECONNRESET"), "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "unknown_ca"],
    ["self-signed", error("ECONNRESET"), "DEPTH_ZERO_SELF_SIGNED_CERT", "unknown_ca"],
    ["expired", error("ECONNRESET"), "CERT_HAS_EXPIRED", "expired"],
    ["not yet valid", error("ECONNRESET"), "CERT_NOT_YET_VALID", "expired"],
    ["server EKU on a client", error("ECONNRESET"), "INVALID_PURPOSE", "bad_certificate"],
    ["old TLS", error("ERR_SSL_UNSUPPORTED_PROTOCOL"), null, "protocol"],
    ["plain HTTP", error("ERR_SSL_HTTP_REQUEST"), null, "protocol"],
    ["timeout", error("ERR_TLS_HANDSHAKE_TIMEOUT"), null, "timeout"],
    ["reset", error("ECONNRESET"), null, "other"],
    ["no code", error(), null, "other"],
  ];
  for (const [name, err, verify, reason] of cases) {
    test(name, () => assert.equal(classifyHandshakeFailure(err, socket(verify)).reason, reason));
  }
});

test("at most N lines per window; the next line says how many were left out", () => {
  let now = 0;
  const counted: string[] = [];
  const logged: HandshakeFailure[] = [];
  const handle = createHandshakeFailureHandler({
    count: (r) => counted.push(r),
    log: (f) => logged.push(f),
    linesPerWindow: 2,
    windowMs: 1000,
    now: () => now,
  });
  for (let i = 0; i < 5; i++) handle(error("ECONNRESET"), socket("CERT_HAS_EXPIRED"));
  assert.equal(counted.length, 5);
  assert.equal(logged.length, 2);
  now = 1000;
  handle(error("ERR_SSL_HTTP_REQUEST"), socket(null));
  assert.deepEqual(logged[2], {
    peer: "192.0.2.7",
    reason: "protocol",
    detail: "ERR_SSL_HTTP_REQUEST",
    suppressed: 3,
  });
  handle(error("ERR_SSL_HTTP_REQUEST"), socket(null));
  assert.equal(logged[3]?.suppressed, undefined);
});
