// The driver's connections: one mTLS HTTP/2 session per simulated host, each with that host's
// own agent certificate, opened a few at a time and closed together. Loopback only.
import { type ClientHttp2Session, connect } from "node:http2";
import type { PemPair } from "./bench-pki.js";

/** Open mTLS sessions to one server, one per host identity. */
export interface SessionPool {
  readonly port: number;
  readonly sessions: readonly ClientHttp2Session[];
  /** Session-level failures seen so far (goaway, socket errors); should stay empty. */
  readonly failures: string[];
  close(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);

/** Connects one session per identity to `https://<host>:<port>`; loopback targets only. */
export async function openSessions(
  host: string,
  port: number,
  ca: string,
  identities: readonly PemPair[],
): Promise<SessionPool> {
  // The bench floods whatever it targets; it must never be pointed at a real control plane.
  if (!LOOPBACK.has(host)) throw new Error(`the load driver only targets loopback, not ${host}`);
  const failures: string[] = [];
  const sessions: ClientHttp2Session[] = [];
  const connectOne = (identity: PemPair) =>
    new Promise<ClientHttp2Session>((resolve, reject) => {
      const session = connect(`https://${host}:${port}`, {
        ca,
        cert: identity.cert,
        key: identity.key,
        servername: "localhost",
        // Lanes of one host share this session; the default (100) would be plenty, but a
        // large local window keeps flow control out of the picture for small bodies.
        settings: { enablePush: false, initialWindowSize: 1 << 20 },
      });
      session.once("connect", () => resolve(session));
      session.once("error", reject);
    });
  // A few handshakes at a time: a thousand at once would measure the server's TLS backlog.
  const batch = 32;
  for (let i = 0; i < identities.length; i += batch) {
    const opened = await Promise.all(identities.slice(i, i + batch).map(connectOne));
    for (const session of opened) {
      session.removeAllListeners("error");
      session.on("error", (error: Error) => failures.push(`session error: ${error.message}`));
      session.on("goaway", (code: number) => failures.push(`goaway ${code}`));
      sessions.push(session);
    }
  }
  return {
    port,
    sessions,
    failures,
    async close() {
      await Promise.all(
        sessions.map(
          (s) =>
            new Promise<void>((resolve) => {
              if (s.closed || s.destroyed) return resolve();
              const timer = setTimeout(() => {
                s.destroy();
                resolve();
              }, 2000);
              s.close(() => {
                clearTimeout(timer);
                resolve();
              });
            }),
        ),
      );
    },
  };
}
