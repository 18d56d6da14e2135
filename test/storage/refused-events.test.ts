// The refused-event log and the operator views on both dialects: refusals are written in the
// batch's transaction without touching the record, repeats are counted not added, a host's
// entries are capped, signed forms are kept, and the paged views read what was written.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { RemoteEvent } from "../../src/core/event.js";
import { inputRefusal } from "../../src/core/refusal.js";
import { type BatchItem, createBatchApplier } from "../../src/storage/apply-batch.js";
import { getRecord } from "../../src/storage/get-record.js";
import { listSignedEvents } from "../../src/storage/list-signed-events.js";
import {
  getRolloutWithCounts,
  listRolloutsWithCounts,
  pageProbeFailures,
  pageQuarantines,
} from "../../src/storage/operator-views.js";
import {
  listRefusedEvents,
  MAX_REFUSALS_PER_HOST,
  type RequestOrigin,
} from "../../src/storage/refused-events.js";
import { at, ev } from "./events.js";
import { DIALECTS, withStore } from "./harness.js";
import { count, open } from "./setup.js";

const R = "stable@3f2a9c1e";
const NOW = at("2026-05-16T02:00:00Z");
const LATER = at("2026-05-16T02:05:00Z");

const origin = (request: string): RequestOrigin => ({
  peer: "agent-web-01.fleet.lab.internal",
  protocol: "http-json",
  request: () => request,
});

function item(event: RemoteEvent, extra: Partial<BatchItem> = {}): BatchItem {
  return {
    rolloutId: R,
    hostname: "web-01",
    event,
    signature: null,
    origin: origin(`{"seq":${event.seq}}`),
    ...extra,
  };
}

for (const kind of DIALECTS) {
  describe(`refused-event log (${kind})`, () => {
    test("refusals are recorded in the batch, the record untouched; repeats are counted", async () => {
      await withStore(kind, async ({ database }) => {
        await open(database, R, ["web-01"]);
        const applier = createBatchApplier(database);
        const before = await getRecord(database.db, R, "web-01");
        const unknown = item(ev.dispatchAck(1), { rolloutId: "gone@0ff" });
        const illegal = item(ev.activationStarted(1));
        const nul = item(ev.dispatchAck(1, 1, "a\u0000b"), {
          refusal: inputRefusal("unsafe_input", "event.currentClosureAtDispatch", "has a NUL"),
        });
        // The unknown one twice in one batch, once more in the next.
        const outcomes = await applier.applyBatch([unknown, illegal, unknown, nul], NOW);
        assert.deepEqual(
          outcomes.map((o) => o.type),
          ["notFound", "refused", "notFound", "rejected"],
        );
        await applier.applyBatch([unknown], LATER);
        assert.deepEqual(await getRecord(database.db, R, "web-01"), before);
        assert.equal(await count(database, "event_log"), 0);
        const rows = await listRefusedEvents(database.db, {}, { limit: 10 });
        assert.deepEqual(
          rows.map((r) => [r.rolloutId, r.seq, r.kind, r.code, r.reason, r.count]),
          [
            ["gone@0ff", 1, "DispatchAck", "not_found", "not_found", 3],
            [R, 1, "ActivationStarted", "failed_precondition", "illegal_for_state", 1],
            [R, 1, "DispatchAck", "invalid_argument", "unsafe_input", 1],
          ],
        );
        assert.equal(rows[0]?.firstRefusedAt, NOW);
        assert.equal(rows[0]?.lastRefusedAt, LATER);
        assert.equal(rows[0]?.peer, "agent-web-01.fleet.lab.internal");
        assert.equal(rows[0]?.request, '{"seq":1}');
        assert.equal(rows[2]?.field, "event.currentClosureAtDispatch");
        const filtered = await listRefusedEvents(
          database.db,
          { rolloutId: R, reason: "unsafe_input" },
          { limit: 10 },
        );
        assert.equal(filtered.length, 1);
        const paged = await listRefusedEvents(
          database.db,
          { hostname: "web-01" },
          { afterId: rows[0]?.id ?? 0, limit: 1 },
        );
        assert.equal(paged[0]?.id, rows[1]?.id);
      });
    });

    test("text no store keeps is written as escapes", async () => {
      await withStore(kind, async ({ database }) => {
        const applier = createBatchApplier(database);
        await applier.applyBatch(
          [
            item(ev.dispatchAck(1), {
              rolloutId: "bad\u0000id\ud800",
              refusal: inputRefusal("unsafe_input", "rolloutId", "has a NUL"),
            }),
          ],
          NOW,
        );
        const [row] = await listRefusedEvents(database.db, {}, { limit: 1 });
        assert.equal(row?.rolloutId, "bad\\u0000id\\ud800");
      });
    });

    test(`at most ${MAX_REFUSALS_PER_HOST} distinct refusals per host, the newest kept`, async () => {
      await withStore(kind, async ({ database }) => {
        const applier = createBatchApplier(database);
        const extra = 5;
        const items = Array.from({ length: MAX_REFUSALS_PER_HOST + extra }, (_, i) =>
          item(ev.dispatchAck(i + 1), { rolloutId: "gone@0ff" }),
        );
        for (let i = 0; i < items.length; i += 256) {
          await applier.applyBatch(items.slice(i, i + 256), NOW);
        }
        // Another host is not affected by web-01's cap.
        await applier.applyBatch(
          [item(ev.dispatchAck(1), { rolloutId: "gone@0ff", hostname: "web-02" })],
          NOW,
        );
        const rows = await listRefusedEvents(database.db, { hostname: "web-01" }, { limit: 5000 });
        assert.equal(rows.length, MAX_REFUSALS_PER_HOST);
        assert.equal(rows[0]?.seq, extra + 1);
        assert.equal(rows.at(-1)?.seq, MAX_REFUSALS_PER_HOST + extra);
        const other = await listRefusedEvents(database.db, { hostname: "web-02" }, { limit: 5 });
        assert.equal(other.length, 1);
      });
    });

    test("a signed event keeps its signed form and signer key", async () => {
      await withStore(kind, async ({ database }) => {
        await open(database, R, ["web-01"]);
        const applier = createBatchApplier(database);
        const key = new Uint8Array([48, 1, 2, 3]);
        await applier.applyBatch(
          [
            item(ev.dispatchAck(1), {
              signature: new Uint8Array([9, 9]),
              signed: { form: '{"kind":"DispatchAck"}', key },
            }),
            item(ev.activationStarted(2)),
          ],
          NOW,
        );
        const signed = await listSignedEvents(
          database.db,
          { rolloutId: R },
          { afterId: 0, limit: 10 },
        );
        assert.equal(signed.length, 1, "unsigned events are not listed");
        assert.equal(signed[0]?.signedForm, '{"kind":"DispatchAck"}');
        assert.deepEqual(signed[0]?.signerKey, key);
        assert.deepEqual(signed[0]?.signature, new Uint8Array([9, 9]));
      });
    });
  });

  describe(`operator views (${kind})`, () => {
    test("rollouts with counts, quarantines and probe failures, paged and filtered", async () => {
      await withStore(kind, async ({ database }) => {
        await open(database, R, ["web-01", "web-02"]);
        await open(database, "canary@0d1e", ["web-03"]);
        const applier = createBatchApplier(database);
        const host = (hostname: string, events: RemoteEvent[]) =>
          events.map((event) => ({ ...item(event), hostname }));
        await applier.applyBatch(
          [
            ...host("web-01", [
              ev.dispatchAck(1),
              ev.activationCompleted(2, "target-web-01"),
              ev.probeResult(3, "http", "fail", 5, "enforce"),
              ev.probeResult(4, "evidence", "fail", 6, "enforce", [
                { controlId: "A.8.1", status: "fail", framework: "nis2" },
              ]),
              ev.failed(5),
              ev.rollbackComplete(6),
            ]),
            ...host("web-02", [ev.dispatchAck(1)]),
          ],
          NOW,
        );
        const rollouts = await listRolloutsWithCounts(database.db, {}, { limit: 10 });
        assert.deepEqual(
          rollouts.map((r) => [r.rollout.id, Object.fromEntries(r.counts)]),
          [
            ["canary@0d1e", { Pending: 1 }],
            [R, { Reverted: 1, Activating: 1 }],
          ],
        );
        const after = await listRolloutsWithCounts(
          database.db,
          { channel: "stable" },
          { after: "canary@0d1e", limit: 10 },
        );
        assert.deepEqual(
          after.map((r) => r.rollout.id),
          [R],
        );
        assert.equal((await getRolloutWithCounts(database.db, "nope@00")) === undefined, true);
        const quarantines = await pageQuarantines(database.db, { channel: "stable" }, { limit: 5 });
        assert.deepEqual(
          quarantines.map((q) => [q.closure, q.hostname]),
          [["target-web-01", "web-01"]],
        );
        assert.deepEqual(
          await pageQuarantines(
            database.db,
            {},
            { after: { channel: "stable", closure: "target-web-01" }, limit: 5 },
          ),
          [],
        );
        const failures = await pageProbeFailures(database.db, { rolloutId: R }, { limit: 10 });
        assert.deepEqual(
          failures.map((f) => [f.probeName, f.controlId]),
          [
            ["http", null],
            ["evidence", "A.8.1"],
          ],
        );
        const evidence = await pageProbeFailures(
          database.db,
          { hostname: "web-01", probeName: "evidence" },
          { afterId: 0, limit: 10 },
        );
        assert.equal(evidence.length, 1);
      });
    });
  });
}
