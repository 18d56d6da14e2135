// The heartbeat rules of SPEC §8 over every state × every kind of reported closure, with the
// expected syntheses written out from the spec; each synthesized sequence must apply through
// step() and leave nothing more to synthesize (so a second replica does nothing).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  bootstrapRecords,
  type Heartbeat,
  HOST_STATES,
  type HostRolloutRecord,
  type HostState,
  recoveryEvents,
  replay,
  replayFrom,
  step,
} from "../../../src/core/index.js";
import {
  at,
  deepFreeze,
  event,
  mustApply,
  mustRefuse,
  NOW,
  OTHER,
  PREVIOUS,
  ROLLOUT_ID,
  recordIn,
  SOAK_SECS,
  TARGET,
} from "./builders.js";

const HOST = "web-01";
type Reported = "none" | "target" | "previous" | "other";
const REPORTED: readonly Reported[] = ["none", "target", "previous", "other"];
const closureOf = (r: Reported): string | null =>
  r === "none" ? null : r === "target" ? TARGET : r === "previous" ? PREVIOUS : OTHER;

function heartbeat(reported: Reported, options: Partial<Heartbeat> = {}): Heartbeat {
  return {
    hostname: HOST,
    rolloutId: null,
    currentClosure: closureOf(reported),
    at: at(1000),
    ...options,
  };
}

/** SPEC §8 step 2, copied from the spec: the kinds synthesized and the state they lead to. */
function expected(state: HostState, reported: Reported): { kinds: string[]; to?: HostState } {
  if (reported === "target" && (state === "Activating" || state === "Deferred"))
    return { kinds: ["ActivationCompleted"], to: "Soaking" };
  if (reported === "target" && state === "Pending")
    return { kinds: ["DispatchAck", "ActivationCompleted", "Converged"], to: "Converged" };
  if (reported === "previous" && state === "Failed")
    return { kinds: ["RollbackComplete"], to: "Reverted" };
  return { kinds: [] };
}

describe("recovery synthesis (7 states × 4 reported closures)", () => {
  for (const state of HOST_STATES) {
    for (const reported of REPORTED) {
      const want = expected(state, reported);
      test(`${state} + heartbeat on ${reported} ⇒ ${want.kinds.join(", ") || "nothing"}`, () => {
        const { record } = recordIn(state);
        deepFreeze(record);
        const hb = deepFreeze(heartbeat(reported));
        const events = recoveryEvents(record, hb);
        assert.deepEqual(
          events.map((e) => e.kind),
          want.kinds,
        );
        // The seqs the agent would have used.
        assert.deepEqual(
          events.map((e) => e.seq),
          events.map((_, i) => record.lastEventSeq + 1 + i),
        );
        const result = replay(record, events, NOW, "rollback-and-halt");
        assert.deepEqual(result.refused, []);
        if (want.to !== undefined) assert.equal(result.record.state, want.to);
        // Healed once: the same heartbeat on the healed record synthesizes nothing more.
        assert.deepEqual(recoveryEvents(result.record, hb), []);
      });
    }
  }

  test("the synthesized events carry the heartbeat's closure and time", () => {
    const { record } = recordIn("Activating");
    const [completed] = recoveryEvents(record, heartbeat("target"));
    assert.deepEqual(completed, {
      kind: "ActivationCompleted",
      observedCurrentClosure: TARGET,
      exitCode: 0,
      completedAt: at(1000),
      seq: 2,
    });
    const { record: failed } = recordIn("Failed");
    assert.deepEqual(recoveryEvents(failed, heartbeat("previous")), [
      {
        kind: "RollbackComplete",
        revertedToClosure: PREVIOUS,
        exitCode: 0,
        completedAt: at(1000),
        seq: failed.lastEventSeq + 1,
      },
    ]);
  });

  test("Pending converges at max(at, soakDueAt): clamped up to soakDueAt before it", () => {
    const { record } = recordIn("Pending");
    const early = recoveryEvents(record, heartbeat("target", { at: at(10) }));
    assert.deepEqual(early[0], {
      kind: "DispatchAck",
      currentClosureAtDispatch: "",
      receivedAt: at(10),
      seq: 1,
    });
    assert.equal(early[2]?.kind, "Converged");
    assert.equal(early[2]?.kind === "Converged" && early[2].convergedAt, record.soakDueAt);
    assert.equal(record.soakDueAt, at(SOAK_SECS));
    const late = recoveryEvents(record, heartbeat("target", { at: at(SOAK_SECS + 50) }));
    assert.equal(late[2]?.kind === "Converged" && late[2].convergedAt, at(SOAK_SECS + 50));
    const healed = replay(record, early, NOW, "halt").record;
    assert.equal(healed.convergedAt, record.soakDueAt);
    assert.equal(healed.lastEventSeq, 3);
  });

  test("the agent's own late ActivationCompleted with the synthesized seq is a regression", () => {
    const { record } = recordIn("Deferred");
    const healed = replay(record, recoveryEvents(record, heartbeat("target")), NOW, "halt").record;
    const late = event("ActivationCompleted", record.lastEventSeq + 1);
    assert.deepEqual(mustRefuse(step(healed, late, NOW, "halt")), {
      type: "seqRegression",
      seq: late.seq,
      lastEventSeq: healed.lastEventSeq,
    });
  });

  test("another host's heartbeat heals nothing", () => {
    const { record } = recordIn("Activating");
    assert.deepEqual(recoveryEvents(record, heartbeat("target", { hostname: "web-02" })), []);
  });
});

describe("replay-from (SPEC §8 step 3)", () => {
  const soaking = () => recordIn("Soaking").record;
  test("named rollout, closure differs from the record's ⇒ the record's last seq", () => {
    const record = soaking();
    const hb = heartbeat("other", { rolloutId: ROLLOUT_ID });
    assert.equal(replayFrom(record, hb), record.lastEventSeq);
  });
  test("named rollout, record has no current closure ⇒ the record's last seq", () => {
    const { record } = recordIn("Activating");
    assert.equal(replayFrom(record, heartbeat("target", { rolloutId: ROLLOUT_ID })), 1);
  });
  test("views agree ⇒ none", () => {
    assert.equal(replayFrom(soaking(), heartbeat("target", { rolloutId: ROLLOUT_ID })), null);
  });
  test("no closure, or no rollout named, or another rollout ⇒ none", () => {
    const record = soaking();
    assert.equal(replayFrom(record, heartbeat("none", { rolloutId: ROLLOUT_ID })), null);
    assert.equal(replayFrom(record, heartbeat("other")), null);
    assert.equal(replayFrom(record, heartbeat("other", { rolloutId: "canary@01" })), null);
  });
  test("a record missing seqs ⇒ from just below the lowest missing one", () => {
    const { record } = recordIn("Activating");
    const gapped = mustApply(step(record, event("ActivationStarted", 5), NOW, "halt")).record;
    assert.deepEqual(gapped.missingSeqs, [2, 3, 4]);
    assert.equal(replayFrom(gapped, heartbeat("none", { rolloutId: ROLLOUT_ID })), 1);
  });
});

describe("bootstrap (SPEC §8 step 4)", () => {
  const records = (): HostRolloutRecord[] =>
    HOST_STATES.map((state, i) => ({ ...recordIn(state).record, rolloutId: `c${6 - i}@0${i}` }));
  test("no rollout named ⇒ every active record of the host, by rollout id", () => {
    const out = bootstrapRecords(records(), heartbeat("none"));
    assert.deepEqual(
      out.map((r) => r.state),
      ["Failed", "Soaking", "Deferred", "Activating", "Pending"],
    );
  });
  test("a named rollout ⇒ no snapshots; other hosts' records are never included", () => {
    assert.deepEqual(bootstrapRecords(records(), heartbeat("none", { rolloutId: ROLLOUT_ID })), []);
    assert.deepEqual(bootstrapRecords(records(), heartbeat("none", { hostname: "web-02" })), []);
  });
});
