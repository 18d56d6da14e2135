// A TLS listener and client for the pki tests: real handshakes on 127.0.0.1, port 0.
import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { connect, createServer, type Server, type TLSSocket } from "node:tls";
import type { IssuedCertificate } from "../../../src/pki/issued-certificate.js";

export interface ServerView {
  readonly authorized: boolean;
  readonly authorizationError: string | undefined;
  readonly commonName: string | undefined;
}

export interface Listener {
  readonly port: number;
  readonly seen: ServerView[];
  readonly server: Server;
}

// The server records how it judged each client instead of dropping it, so a test can see
// *why* a certificate was refused (rejectUnauthorized: false); the strict listener shows the
// refusal as the application would get it.
export async function listen(
  ca: IssuedCertificate,
  server: IssuedCertificate,
  rejectUnauthorized: boolean,
): Promise<Listener> {
  const seen: ServerView[] = [];
  const tlsServer = createServer(
    {
      key: server.keyPem,
      cert: server.certPem,
      ca: ca.certPem,
      requestCert: true,
      rejectUnauthorized,
    },
    (socket: TLSSocket) => {
      // Node gives an array when the subject repeats CN; the identity is the first one.
      const cn = socket.getPeerCertificate().subject?.CN;
      seen.push({
        authorized: socket.authorized,
        authorizationError: socket.authorizationError?.toString(),
        commonName: Array.isArray(cn) ? cn[0] : cn,
      });
      socket.end("ok");
    },
  );
  tlsServer.listen(0, "127.0.0.1");
  await once(tlsServer, "listening");
  return { port: (tlsServer.address() as AddressInfo).port, seen, server: tlsServer };
}

/** Connects, reads to the end, and returns what the server said (or throws the TLS error). */
export async function exchange(
  port: number,
  client: Partial<IssuedCertificate>,
  trust: IssuedCertificate,
  servername?: string,
): Promise<string> {
  const socket = connect({
    host: "127.0.0.1",
    port,
    ca: trust.certPem,
    cert: client.certPem,
    key: client.keyPem,
    ...(servername === undefined ? {} : { servername }),
  });
  socket.setEncoding("utf8");
  let data = "";
  socket.on("data", (chunk: string) => {
    data += chunk;
  });
  try {
    await once(socket, "end");
    return data;
  } finally {
    socket.destroy();
  }
}

// With TLS 1.3 the client finishes its handshake before the server judges its certificate,
// so a refusal shows up as an alert (an error) or as a connection closed without a reply.
export async function assertRefused(reply: Promise<string>): Promise<void> {
  const outcome = await reply.then(
    (data) => `reply ${JSON.stringify(data)}`,
    () => "error",
  );
  assert.ok(outcome === "error" || outcome === 'reply ""', `server answered: ${outcome}`);
}
