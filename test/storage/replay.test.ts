// The event log is a faithful record: for random event streams applied in random batches,
// the core's replay of a host's logged events from its opened record reproduces the stored
// record, and replaying everything that was submitted gives the same record and log.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { HealthFailurePolicy, ProbeMode, ProbeStatus } from "../../src/core/domain.js";
import type { RemoteEvent, SubResult } from "../../src/core/event.js";
import {
  addSeconds,
  type Instant,
  instantFromEpochNanos,
  instantToEpochNanos,
} from "../../src/core/instant.js";
import { openRecords } from "../../src/core/open-rollout.js";
import { replay } from "../../src/core/replay.js";
import { type BatchItem, createBatchApplier } from "../../src/storage/apply-batch.js";
import { getRecord } from "../../src/storage/get-record.js";
import { listEvents } from "../../src/storage/list-events.js";
import { openRollout } from "../../src/storage/open-rollout.js";
import { lifecycle, T0 } from "./events.js";
import { DIALECTS, withStore } from "./harness.js";

const RUNS = 25;

const instant = fc
  .tuple(fc.integer({ min: 0, max: 400 }), fc.constantFrom(0, 0, 500_000_000, 123_456_789))
  .map(([s, n]) => instantFromEpochNanos(instantToEpochNanos(addSeconds(T0, s)) + BigInt(n))!);
const closure = fc.constantFrom("target", "prev", "other");
const probeName = fc.constantFrom("http", "dns", "evidence");
const mode = fc.constantFrom<ProbeMode>("enforce", "enforce", "observe", "disabled");
const status = fc.constantFrom<ProbeStatus>("pass", "pass", "fail");
const subResult: fc.Arbitrary<SubResult> = fc.record(
  {
    controlId: fc.constantFrom("A.8.1", "enc-at-rest"),
    status,
    framework: fc.constantFrom("nis2", "iso27001"),
    article: fc.constant("21.2.h"),
    effectiveMode: mode,
    overrideReason: fc.constant("audit window"),
  },
  { requiredKeys: ["controlId", "status", "framework"] },
);

/** Any event kind with fields from small pools, so legal pairs and invariants get hit. */
const body: fc.Arbitrary<Omit<RemoteEvent, "seq">> = fc.oneof(
  fc.record({
    kind: fc.constant("DispatchAck" as const),
    currentClosureAtDispatch: closure,
    receivedAt: instant,
  }),
  fc.record({
    kind: fc.constant("ActivationStarted" as const),
    startedAt: instant,
    switchMethod: fc.constant("switch"),
  }),
  fc.record({
    kind: fc.constant("ActivationCompleted" as const),
    observedCurrentClosure: closure,
    exitCode: fc.constant(0),
    completedAt: instant,
  }),
  fc.record({
    kind: fc.constant("ActivationFailed" as const),
    exitCode: fc.constant(1),
    stderrTail: fc.string({ maxLength: 8 }),
    failedAt: instant,
  }),
  fc.record({
    kind: fc.constant("ActivationDeferred" as const),
    component: fc.constantFrom("dbus" as const, "kernel" as const),
    deferredAt: instant,
  }),
  fc.record({
    kind: fc.constant("ProbeTopologyDeclared" as const),
    probes: fc.array(fc.record({ probeName, kind: fc.constant("http"), mode }), { maxLength: 2 }),
    declaredAt: instant,
  }),
  fc.record({
    kind: fc.constant("ProbeObservedFirst" as const),
    probeName,
    mode,
    observedAt: instant,
  }),
  fc.record(
    {
      kind: fc.constant("ProbeResult" as const),
      probeName,
      mode,
      status,
      observedAt: instant,
      failureReason: fc.constantFrom("timeout", "500"),
      subResults: fc.array(subResult, { maxLength: 2 }),
    },
    { requiredKeys: ["kind", "probeName", "mode", "status", "observedAt"] },
  ),
  fc.record({
    kind: fc.constant("ProbeFailureFirst" as const),
    probeName,
    mode,
    firstFailedAt: instant,
  }),
  fc.record({
    kind: fc.constant("Failed" as const),
    failedAt: instant,
    sustainedDurationSecs: fc.nat(600),
    failingProbes: fc.array(probeName, { maxLength: 2 }),
    policyApplied: fc.constantFrom<HealthFailurePolicy>("halt", "rollback-and-halt"),
  }),
  fc.record({
    kind: fc.constant("RollbackComplete" as const),
    revertedToClosure: closure,
    exitCode: fc.constant(0),
    completedAt: instant,
  }),
  fc.record({
    kind: fc.constant("Converged" as const),
    convergedAt: instant,
    currentClosure: closure,
  }),
) as fc.Arbitrary<Omit<RemoteEvent, "seq">>;

/**
 * A legal prefix of a lifecycle (so hosts get past Pending), then random events whose seqs
 * mostly advance but also repeat and regress (retries, stale events).
 */
const randomStream: fc.Arbitrary<RemoteEvent[]> = fc
  .tuple(
    fc.integer({ min: 0, max: 6 }),
    fc.array(fc.tuple(body, fc.constantFrom(-1, 0, 1, 1, 1, 1, 2)), { maxLength: 16 }),
  )
  .map(([prefix, pairs]) => {
    const events: RemoteEvent[] = lifecycle(8, "target", { prevClosure: "prev" }).slice(0, prefix);
    let seq = prefix;
    for (const [b, delta] of pairs) {
      seq = Math.max(1, seq + delta);
      events.push({ ...b, seq } as RemoteEvent);
    }
    return events;
  });

/** A legal lifecycle with some events retried, to reach Converged and Reverted often. */
const lifecycleStream: fc.Arbitrary<RemoteEvent[]> = fc
  .tuple(fc.integer({ min: 5, max: 12 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 4 }))
  .map(([length, fail, retries]) => {
    const events = lifecycle(length, "target", { fail, prevClosure: "prev" });
    for (const r of retries) events.splice(r % (events.length + 1), 0, events[r % events.length]!);
    return events;
  });

const scenario = fc.record({
  policy: fc.constantFrom<HealthFailurePolicy>("halt", "rollback-and-halt"),
  soakDurationSecs: fc.constantFrom(0, 5, 200),
  // Through JSON, as the server hands events over (fast-check builds some records with a
  // null prototype, which deepEqual would tell apart from parsed payloads).
  streams: fc
    .array(fc.oneof(randomStream, lifecycleStream), { minLength: 1, maxLength: 3 })
    .map((streams) => JSON.parse(JSON.stringify(streams)) as RemoteEvent[][]),
  batchSizes: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 8 }),
});

for (const kind of DIALECTS) {
  describe(`replay of the event log (${kind})`, () => {
    test("reproduces every stored record for random event streams", async () => {
      await withStore(kind, async ({ database }) => {
        const { applyBatch } = createBatchApplier(database);
        let run = 0;
        await fc.assert(
          fc.asyncProperty(scenario, async ({ policy, soakDurationSecs, streams, batchSizes }) => {
            const rolloutId = `prop@${(run++).toString(16)}`;
            const input = {
              rolloutId,
              channel: "prop",
              soakDurationSecs,
              hosts: streams.map((_, i) => ({ hostname: `h${i}`, targetClosure: "target" })),
            };
            const opened = await openRollout(database.db, { ...input, policy }, T0);
            assert.ok(opened.ok);
            // Round-robin the hosts' streams so batches mix hosts, then cut into batches.
            const items: BatchItem[] = [];
            for (let i = 0; items.length < streams.flat().length; i++) {
              streams.forEach((s, h) => {
                const event = s[i];
                if (event) items.push({ rolloutId, hostname: `h${h}`, event, signature: null });
              });
            }
            let applied = 0;
            for (let i = 0, b = 0; i < items.length; b++) {
              const size = batchSizes[b % batchSizes.length]!;
              const now = addSeconds(T0, 1000 + b) as Instant;
              const outcomes = await applyBatch(items.slice(i, i + size), now);
              applied += outcomes.filter((o) => o.type === "applied").length;
              i += size;
            }
            const starts = openRecords(input, T0);
            let logged = 0;
            for (const [h, start] of starts.entries()) {
              const stored = await getRecord(database.db, rolloutId, start.hostname);
              const log = await listEvents(database.db, {
                rolloutId,
                hostname: start.hostname,
                limit: 1000,
              });
              logged += log.length;
              const fromLog = replay(
                start,
                log.map((e) => e.event),
                T0,
                policy,
              );
              assert.deepEqual(fromLog.refused, [], "every logged event replays");
              assert.deepEqual(fromLog.record, stored, "the log reproduces the record");
              const fromInput = replay(start, streams[h]!, T0, policy);
              assert.deepEqual(fromInput.record, stored, "the store applied what step would");
              assert.deepEqual(
                fromInput.applied,
                log.map((e) => e.event),
              );
            }
            assert.equal(logged, applied);
          }),
          { numRuns: RUNS, seed: Number(process.env["NIXFLEET_FC_SEED"] ?? 20260516) },
        );
      });
    });
  });
}
