// Shared pieces of the fault runs: a spawned server over a store opened beforehand, agents that
// retry like real ones, RSS from /proc, and stored-vs-acknowledged accounting.
import { readFileSync } from "node:fs";
import { type ClientHttp2Session, connect } from "node:http2";
import { createDatabase } from "../../src/storage/database.js";
import { streamBody } from "../../test/e2e/agent-stream.js";
import { HOSTS, type Identity, openRolloutInStore } from "../../test/e2e/harness.js";

/** The agents of a fault run: the test PKI's hosts. */
export const AGENTS = HOSTS;

/** Opens `rolloutId` for every agent in the store at `db` (migrating it first). */
export const openStore = openRolloutInStore;

/** (host → seqs in the log) and the number of (host, seq) pairs logged more than once. */
export async function stored(
  db: string,
  rolloutId: string,
): Promise<{ seqs: Map<string, Set<number>>; twice: number }> {
  const database = await createDatabase(db);
  try {
    const rows = await database.db
      .selectFrom("event_log")
      .select(["hostname", "seq"])
      .where("rollout_id", "=", rolloutId)
      .execute();
    const seqs = new Map<string, Set<number>>();
    let twice = 0;
    for (const r of rows) {
      const set = seqs.get(r.hostname) ?? new Set<number>();
      if (set.has(Number(r.seq))) twice++;
      set.add(Number(r.seq));
      seqs.set(r.hostname, set);
    }
    return { seqs, twice };
  } finally {
    await database.close();
  }
}

/** What one retrying agent saw. */
export interface RetryLog {
  readonly hostname: string;
  readonly acknowledged: number[];
  /** Every answer that was not 204, with its status and body, and connection failures. */
  readonly answers: { at: number; status: number; body: string; retryAfter?: string }[];
}

function post(
  session: ClientHttp2Session,
  body: string,
): Promise<{ status: number; body: string; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": "/v1/agent/events",
      "content-type": "application/json",
    });
    let status = 0;
    let retryAfter: string | undefined;
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      const r = h["retry-after"];
      if (r !== undefined) retryAfter = String(r);
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () =>
      resolve({
        status,
        body: Buffer.concat(chunks).toString("utf8"),
        ...(retryAfter ? { retryAfter } : {}),
      }),
    );
    stream.on("error", reject);
    stream.setTimeout(15_000, () => stream.close());
    stream.end(body);
  });
}

/**
 * Posts seq 1, 2, 3… like an existing agent: the same seq again after any failure (5xx or a
 * lost connection, reconnecting), until `signal` aborts.
 */
export async function retryingAgent(
  url: string,
  ca: string,
  identity: Identity,
  hostname: string,
  rolloutId: string,
  signal: AbortSignal,
  pauseMs = 0,
): Promise<RetryLog> {
  const log: RetryLog = { hostname, acknowledged: [], answers: [] };
  let session: ClientHttp2Session | undefined;
  let seq = 1;
  while (!signal.aborted) {
    if (session === undefined || session.destroyed || session.closed) {
      session = connect(url, { ca, cert: identity.cert, key: identity.key });
      session.on("error", () => {});
    }
    try {
      const answer = await post(session, streamBody(hostname, rolloutId, seq));
      if (answer.status === 204) {
        log.acknowledged.push(seq);
        seq++;
        if (pauseMs > 0) await sleep(pauseMs);
        continue;
      }
      log.answers.push({ at: Date.now(), ...answer });
      if (answer.status < 500) break;
    } catch {
      log.answers.push({ at: Date.now(), status: 0, body: "connection error" });
      session.destroy();
      session = undefined;
    }
    await sleep(100);
  }
  session?.destroy();
  return log;
}

/** Acknowledged events missing from the log. */
export function missing(
  logs: readonly { hostname: string; acknowledged: number[] }[],
  seqs: Map<string, Set<number>>,
): number {
  let n = 0;
  for (const log of logs) {
    const have = seqs.get(log.hostname) ?? new Set<number>();
    for (const s of log.acknowledged) if (!have.has(s)) n++;
  }
  return n;
}

/** Resident set size of a process, bytes. */
export function rss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0; // the process is gone
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The p-th percentile (0..100) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
