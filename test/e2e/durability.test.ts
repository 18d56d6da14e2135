// Durable replies: a success means committed. Checked from a separate database connection,
// across kill -9 of the server process at different points, and across a graceful SIGTERM.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import BetterSqlite3 from "better-sqlite3";
import { type AgentLog, runAgent } from "./agent-stream.js";
import {
  cleanup,
  HOSTS,
  makeTestPki,
  openRolloutInStore,
  spawnFlags,
  spawnServer,
  type TestPki,
} from "./harness.js";

/** Seqs in the event log per host, read through a connection of our own. */
function storedSeqs(path: string, rolloutId: string): Map<string, Set<number>> {
  const db = new BetterSqlite3(path, { readonly: true });
  try {
    const rows = db
      .prepare("select hostname, seq from event_log where rollout_id = ?")
      .all(rolloutId) as { hostname: string; seq: number }[];
    const out = new Map<string, Set<number>>();
    for (const r of rows) {
      const set = out.get(r.hostname) ?? new Set<number>();
      set.add(Number(r.seq));
      out.set(r.hostname, set);
    }
    return out;
  } finally {
    db.close();
  }
}

/** Each host's record high-water mark, read through a connection of our own. */
function storedHeads(path: string, rolloutId: string): Map<string, number> {
  const db = new BetterSqlite3(path, { readonly: true });
  try {
    const rows = db
      .prepare("select hostname, last_event_seq from host_rollout_records where rollout_id = ?")
      .all(rolloutId) as { hostname: string; last_event_seq: number }[];
    return new Map(rows.map((r) => [r.hostname, Number(r.last_event_seq)]));
  } finally {
    db.close();
  }
}

function assertAllStored(
  logs: AgentLog[],
  stored: Map<string, Set<number>>,
  heads: Map<string, number>,
): number {
  let acknowledged = 0;
  for (const log of logs) {
    const seqs = stored.get(log.hostname) ?? new Set<number>();
    const head = heads.get(log.hostname) ?? 0;
    assert.ok(
      head >= Math.max(0, ...log.acknowledged),
      `${log.hostname}: record seq ${head} is behind an acknowledged event`,
    );
    assert.equal(head, Math.max(0, ...seqs), `${log.hostname}: record and log disagree`);
    for (const seq of log.acknowledged) {
      assert.ok(
        seqs.has(seq),
        `${log.hostname} seq ${seq} was acknowledged but is not in the event log`,
      );
      acknowledged++;
    }
  }
  return acknowledged;
}

describe("durable replies", () => {
  let pki: TestPki;
  let dbPath: string;
  before(async () => {
    pki = await makeTestPki();
    dbPath = join(pki.dir, "durable.sqlite");
  });
  after(() => cleanup(pki));

  // Kill points count from the first acknowledgement, not from the spawn: on a loaded machine
  // the connections and the first commit can take longer than the earliest kill point. The
  // last round makes that the rule (every commit slowed past the earliest point).
  const rounds: [killAfterMs: number, reducerDelayMs: number][] = [
    [150, 0],
    [400, 0],
    [700, 0],
    [1000, 0],
    [1500, 0],
    [150, 300],
  ];
  for (const [round, [killAfterMs, reducerDelayMs]] of rounds.entries()) {
    const slow = reducerDelayMs > 0 ? `, commits slowed by ${reducerDelayMs} ms` : "";
    test(`kill -9 ${killAfterMs} ms after the first acknowledgement${slow} loses none (round ${round + 1})`, async () => {
      const rolloutId = `kill${round}@0${round}`;
      await openRolloutInStore(dbPath, rolloutId);
      const server = await spawnServer({
        flags: spawnFlags(pki, [
          "--db",
          dbPath,
          "--debug-reducer-delay-ms",
          String(reducerDelayMs),
        ]),
      });
      const stop = new AbortController();
      let firstAck: () => void = () => {};
      const acknowledged = new Promise<void>((resolve) => {
        firstAck = resolve;
      });
      const agents = HOSTS.map((h) =>
        runAgent(server.url, pki.ca, pki.agent(h), h, rolloutId, stop.signal, {
          onAcknowledged: () => firstAck(),
        }),
      );
      // Bounded: a server that never acknowledges fails the round instead of hanging it.
      const noAck = new Promise<"none">((resolve) => setTimeout(resolve, 60_000, "none").unref());
      const first = await Promise.race([acknowledged, noAck]);
      if (first !== "none") await new Promise((r) => setTimeout(r, killAfterMs));
      server.child.kill("SIGKILL");
      const exit = await server.exited;
      assert.equal(exit.signal, "SIGKILL");
      stop.abort();
      const logs = await Promise.all(agents);
      assert.notEqual(first, "none", "the server acknowledged nothing within 60 s");
      const count = assertAllStored(
        logs,
        storedSeqs(dbPath, rolloutId),
        storedHeads(dbPath, rolloutId),
      );
      assert.ok(count > 0, "the server acknowledged nothing before the kill");
      // Under load: the kill cut requests in flight, whose fate the agents never heard.
      assert.ok(
        logs.some((log) => log.unanswered.length > 0),
        "no request was in flight when the server was killed",
      );
    });
  }

  test("SIGTERM under load: every accepted request is answered, every success committed, exit 0", async () => {
    const rolloutId = "term@0f";
    await openRolloutInStore(dbPath, rolloutId);
    const server = await spawnServer({
      flags: spawnFlags(pki, ["--db", dbPath, "--debug-reducer-delay-ms", "5"]),
    });
    const stop = new AbortController();
    const agents = HOSTS.map((h) =>
      runAgent(server.url, pki.ca, pki.agent(h), h, rolloutId, stop.signal),
    );
    await new Promise((r) => setTimeout(r, 600));
    server.child.kill("SIGTERM");
    const exit = await server.exited;
    stop.abort();
    const logs = await Promise.all(agents);
    assert.equal(exit.code, 0, server.output());
    const acknowledged = assertAllStored(
      logs,
      storedSeqs(dbPath, rolloutId),
      storedHeads(dbPath, rolloutId),
    );
    assert.ok(acknowledged > 0);
    for (const log of logs) {
      for (const [seq, status] of log.refused) {
        assert.equal(
          status,
          503,
          `${log.hostname} seq ${seq}: only "unavailable" may refuse during shutdown`,
        );
      }
    }
    // The agents' next event after the last acknowledged one was either refused with 503
    // or never reached the server; none was applied without an answer.
    const stored = storedSeqs(dbPath, rolloutId);
    for (const log of logs) {
      const max = Math.max(0, ...log.acknowledged);
      for (const seq of stored.get(log.hostname) ?? []) {
        assert.ok(
          seq <= max,
          `${log.hostname} seq ${seq} was committed but its agent never heard so`,
        );
      }
    }
  });
});
