// A simulated agent for e2e load: one HTTP/2 session with its own certificate, posting a
// host's events in seq order through the JSON binding until told to stop or refused.
import { type ClientHttp2Session, connect } from "node:http2";
import type { Identity } from "./harness.js";

/** What one agent saw. */
export interface AgentLog {
  readonly hostname: string;
  /** Seqs answered 204 (committed, by contract). */
  readonly acknowledged: number[];
  /** Statuses of refused requests, by seq. */
  readonly refused: Map<number, number>;
  /** Seqs whose request failed at the connection level (no answer). */
  readonly unanswered: number[];
}

/** The binding body of the host's seq-th event: DispatchAck first, then ActivationStarted. */
export function streamBody(hostname: string, rolloutId: string, seq: number): string {
  const at = new Date(Date.UTC(2026, 4, 16, 1, 27, 0) + seq * 1000).toISOString();
  const event =
    seq === 1
      ? { kind: "DispatchAck", currentClosureAtDispatch: `prev-${hostname}`, receivedAt: at, seq }
      : { kind: "ActivationStarted", startedAt: at, switchMethod: "systemd-run", seq };
  return JSON.stringify({ hostname, rolloutId, event });
}

function postOnce(session: ClientHttp2Session, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": "/v1/agent/events",
      "content-type": "application/json",
    });
    let status = 0;
    stream.on("response", (h) => {
      status = Number(h[":status"]);
    });
    stream.on("data", () => {});
    // A stream the server's death ends has no status: unanswered, not refused.
    stream.on("end", () =>
      status === 0 ? reject(new Error("stream ended without a response")) : resolve(status),
    );
    stream.on("error", reject);
    stream.on("close", () => {
      if (status === 0) reject(new Error("stream closed without a response"));
    });
    stream.end(body);
  });
}

/**
 * Posts seq 1, 2, 3… for `hostname` until `signal` aborts, a request is refused, or the
 * connection fails. Resolves with what was acknowledged; `onAcknowledged` hears each 204.
 */
export async function runAgent(
  url: string,
  ca: string,
  identity: Identity,
  hostname: string,
  rolloutId: string,
  signal: AbortSignal,
  options: { maxSeq?: number; onAcknowledged?: (seq: number) => void } = {},
): Promise<AgentLog> {
  const { maxSeq = 100_000, onAcknowledged } = options;
  const log: AgentLog = { hostname, acknowledged: [], refused: new Map(), unanswered: [] };
  const session = connect(url, { ca, cert: identity.cert, key: identity.key });
  session.on("error", () => {});
  try {
    for (let seq = 1; seq <= maxSeq && !signal.aborted; seq++) {
      let status: number;
      try {
        status = await postOnce(session, streamBody(hostname, rolloutId, seq));
      } catch {
        log.unanswered.push(seq);
        break;
      }
      if (status === 204) {
        log.acknowledged.push(seq);
        onAcknowledged?.(seq);
      } else {
        log.refused.set(seq, status);
        break;
      }
    }
  } finally {
    session.destroy();
  }
  return log;
}
