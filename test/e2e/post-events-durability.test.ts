// A PostEvents call cut by kill -9 loses no acknowledged event: agents post backlogs across two
// rollouts to a spawned server whose reducer commits each call over several batches, the server
// is killed mid-call, and every event answered APPLIED or DUPLICATE is in the log on disk.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import BetterSqlite3 from "better-sqlite3";
import { AgentEventsService } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { batched } from "./batch-events.js";
import {
  cleanup,
  client,
  HOSTS,
  makeTestPki,
  openRolloutInStore,
  spawnFlags,
  spawnServer,
  type TestPki,
} from "./harness.js";

const CALL = 16;

/** `rollout/host/seq` of every logged event, read through a connection of our own. */
function logged(path: string): Set<string> {
  const db = new BetterSqlite3(path, { readonly: true });
  try {
    const rows = db.prepare("select rollout_id, hostname, seq from event_log").all() as {
      rollout_id: string;
      hostname: string;
      seq: number;
    }[];
    return new Set(rows.map((r) => `${r.rollout_id}/${r.hostname}/${Number(r.seq)}`));
  } finally {
    db.close();
  }
}

describe("PostEvents durability", () => {
  let pki: TestPki;
  let dbPath: string;
  before(async () => {
    pki = await makeTestPki();
    dbPath = join(pki.dir, "batch-durable.sqlite");
  });
  after(() => cleanup(pki));

  for (const [round, killAfterMs] of [200, 600].entries()) {
    test(`kill -9 ${killAfterMs} ms after the first answered call loses no acknowledged event (round ${round + 1})`, async () => {
      const rollouts = [`bx${round}@0${round}`, `by${round}@0${round}`];
      for (const r of rollouts) await openRolloutInStore(dbPath, r);
      // Four events per transaction: each call of 16 spans several commits.
      const server = await spawnServer({
        flags: spawnFlags(pki, ["--db", dbPath, "--batch-size", "4"]),
      });
      const acknowledged: string[] = [];
      let inFlight = 0;
      let firstAnswer!: () => void;
      const answered = new Promise<void>((resolve) => {
        firstAnswer = resolve;
      });
      const stop = new AbortController();
      const agents = HOSTS.map(async (host) => {
        const agent = client(AgentEventsService, server.url, pki.ca, pki.agent(host), "grpc");
        // Each call: the next 8 seqs of both rollouts, interleaved.
        for (let next = 1; !stop.signal.aborted; next += CALL / 2) {
          const events = Array.from({ length: CALL }, (_, k) =>
            batched(rollouts[k % 2] as string, next + Math.floor(k / 2)),
          );
          inFlight++;
          try {
            const res = await agent.postEvents({ hostname: host, events });
            for (const [k, v] of res.verdicts.entries()) {
              const e = events[k] as { rolloutId: string; event: { seq: bigint } };
              if (v.verdict.case === "accepted") {
                acknowledged.push(`${e.rolloutId}/${host}/${e.event.seq}`);
              } else {
                assert.fail(`${host}: unexpected verdict ${JSON.stringify(v.verdict.value)}`);
              }
            }
            firstAnswer();
          } catch {
            return; // the kill cut this call: its fate is unknown to the agent
          } finally {
            inFlight--;
          }
        }
      });
      const noAnswer = new Promise<"none">((r) => setTimeout(r, 60_000, "none").unref());
      const first = await Promise.race([answered, noAnswer]);
      if (first !== "none") await new Promise((r) => setTimeout(r, killAfterMs));
      const cut = inFlight;
      server.child.kill("SIGKILL");
      assert.equal((await server.exited).signal, "SIGKILL");
      stop.abort();
      await Promise.all(agents);
      assert.notEqual(first, "none", "the server answered no call within 60 s");
      assert.ok(cut > 0, "no call was in flight when the server was killed");
      const onDisk = logged(dbPath);
      assert.ok(acknowledged.length >= CALL);
      for (const key of acknowledged)
        assert.ok(onDisk.has(key), `${key} acknowledged but not logged`);
    });
  }
});
