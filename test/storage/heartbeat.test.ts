// Heartbeats in the reducer's batch on both dialects: recovery events applied and logged as
// synthesized, liveness rows written (one per host per batch), bootstrap and replay-from from
// the records after recovery, and two writers sharing PostgreSQL synthesizing exactly once.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Heartbeat } from "../../src/core/heartbeat.js";
import {
  createBatchApplier,
  type HeartbeatOutcome,
  type WorkItem,
} from "../../src/storage/apply-batch.js";
import { getRecord } from "../../src/storage/get-record.js";
import { countHosts, listHosts } from "../../src/storage/hosts.js";
import { listEvents } from "../../src/storage/list-events.js";
import { ev, T0, t } from "./events.js";
import { DIALECTS, withStore } from "./harness.js";
import { open } from "./setup.js";

const R = "stable@3f2a9c1e";
const beat = (
  hostname: string,
  closure: string | null,
  secs = 100,
  rolloutId: string | null = null,
) => ({
  heartbeat: { hostname, rolloutId, currentClosure: closure, at: t(secs) } satisfies Heartbeat,
});
const event = (hostname: string, e: ReturnType<typeof ev.dispatchAck>): WorkItem => ({
  rolloutId: R,
  hostname,
  event: e,
  signature: null,
});

for (const kind of DIALECTS) {
  describe(`heartbeats in applyWork (${kind})`, () => {
    test("heals, logs synthesized events, writes liveness, answers bootstrap", async () => {
      await withStore(kind, async ({ database }) => {
        const { db } = database;
        await open(database, R, ["a", "b", "c", "d"], { soakDurationSecs: 600 });
        const { applyWork } = createBatchApplier(database);
        await applyWork(
          [
            event("a", ev.dispatchAck(1)),
            event("b", ev.dispatchAck(1)),
            event("b", ev.activationDeferred(2)),
            event("c", ev.dispatchAck(1, 1, "prev-c")),
            event("c", ev.activationFailed(2)),
          ],
          T0,
        );
        const outcomes = await applyWork(
          [
            beat("a", "target-a"),
            beat("b", "target-b"),
            beat("c", "prev-c"),
            beat("d", "target-d", 100),
            // Coalesced into one hosts row: the latest heartbeat of the host in the batch.
            beat("d", "target-d", 120),
            beat("nobody", null),
          ],
          t(200),
        );
        const hb = outcomes as HeartbeatOutcome[];
        assert.deepEqual(
          hb.map((o) => o.synthesized.map((s) => `${s.event.kind}#${s.event.seq}`)),
          [
            ["ActivationCompleted#2"],
            ["ActivationCompleted#3"],
            ["RollbackComplete#3"],
            ["DispatchAck#1", "ActivationCompleted#2", "Converged#3"],
            [],
            [],
          ],
        );
        const states = async (h: string) => (await getRecord(db, R, h))?.state;
        assert.equal(await states("a"), "Soaking");
        assert.equal(await states("b"), "Soaking");
        assert.equal(await states("c"), "Reverted");
        assert.equal(await states("d"), "Converged");
        const d = await getRecord(db, R, "d");
        // Clamped: the heartbeat came before the soak was due.
        assert.equal(d?.convergedAt, d?.soakDueAt);
        // Bootstrap: the active records after recovery (no rollout named).
        assert.deepEqual(
          hb[0]?.bootstrap.map((r) => [r.hostname, r.state, r.lastEventSeq]),
          [["a", "Soaking", 2]],
        );
        assert.deepEqual(hb[3]?.bootstrap, []);
        const log = await listEvents(db, { rolloutId: R, limit: 100 });
        assert.deepEqual(
          log.filter((e) => e.synthesized).map((e) => `${e.hostname}:${e.kind}`),
          [
            "a:ActivationCompleted",
            "b:ActivationCompleted",
            "c:RollbackComplete",
            "d:DispatchAck",
            "d:ActivationCompleted",
            "d:Converged",
          ],
        );
        assert.equal(log.filter((e) => !e.synthesized).length, 5);
        const hosts = await listHosts(db, { reachability: "any" }, { limit: 10 });
        assert.deepEqual(
          hosts.map((h) => [h.hostname, h.lastHeartbeatAt, h.receivedAt, h.currentClosure]),
          [
            ["a", t(100), t(200), "target-a"],
            ["b", t(100), t(200), "target-b"],
            ["c", t(100), t(200), "prev-c"],
            ["d", t(120), t(200), "target-d"],
            ["nobody", t(100), t(200), null],
          ],
        );
        // The agent's own late copy of a synthesized event is a duplicate.
        const [late] = await applyWork([event("a", ev.activationCompleted(2, "target-a"))], t(300));
        assert.equal(late?.type, "duplicate");
        // Liveness by cutoff.
        await applyWork([beat("a", "target-a", 400)], t(500));
        assert.deepEqual(await countHosts(db, t(300)), { unreachable: 4, total: 5 });
        const reachable = await listHosts(
          db,
          { reachability: "reachable", cutoff: t(300) },
          { limit: 10 },
        );
        assert.deepEqual(
          reachable.map((h) => h.hostname),
          ["a"],
        );
      });
    });

    test("replay-from when the views disagree or seqs are missing; none when they agree", async () => {
      await withStore(kind, async ({ database }) => {
        await open(database, R, ["a"]);
        const { applyWork } = createBatchApplier(database);
        await applyWork(
          [event("a", ev.dispatchAck(1)), event("a", ev.activationCompleted(2, "target-a"))],
          T0,
        );
        const replay = async (closure: string | null) =>
          ((await applyWork([beat("a", closure, 100, R)], t(10)))[0] as HeartbeatOutcome)
            .replayFrom;
        assert.equal(await replay("target-a"), null);
        assert.equal(await replay("something-else"), 2);
        assert.equal(await replay(null), null);
        // A gap: seq 5 after 2 leaves 3 and 4 missing; replay from 2 fills them.
        const [gapped] = await applyWork([event("a", ev.topology(5))], t(20));
        assert.equal(gapped?.type === "applied" && gapped.seqGap, 2);
        assert.equal(await replay("target-a"), 2);
        const [filled] = await applyWork([event("a", ev.topology(3))], t(30));
        assert.equal(filled?.type, "applied");
        const record = await getRecord(database.db, R, "a");
        assert.deepEqual(
          [record?.missingSeqCount, record?.missingSeqs, record?.lastEventSeq],
          [1, [4], 5],
        );
        assert.equal(await replay("target-a"), 3);
      });
    });
  });
}

describe("two writers on one PostgreSQL", () => {
  test("the same heartbeat applied by both at once synthesizes once", async () => {
    await withStore("postgres", async ({ database, open: openAnother }) => {
      const hosts = Array.from({ length: 20 }, (_, i) => `h${i}`);
      await open(database, R, hosts);
      const one = createBatchApplier(database);
      const two = createBatchApplier(await openAnother());
      await one.applyWork(
        hosts.map((h) => event(h, ev.dispatchAck(1))),
        T0,
      );
      const beats = hosts.map((h) => beat(h, `target-${h}`));
      const [a, b] = await Promise.all([
        one.applyWork(beats, t(10)),
        two.applyWork([...beats].reverse(), t(10)),
      ]);
      const synthesized = [...(a ?? []), ...(b ?? [])].flatMap(
        (o) => (o as HeartbeatOutcome).synthesized,
      );
      assert.equal(synthesized.length, hosts.length);
      const log = await listEvents(database.db, { rolloutId: R, limit: 1000 });
      assert.equal(log.filter((e) => e.synthesized).length, hosts.length);
      for (const h of hosts) assert.equal((await getRecord(database.db, R, h))?.state, "Soaking");
    });
  });
});
