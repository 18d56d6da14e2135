// SPEC §10 acceptance: the original agent's queue (ordered, an event deleted only on a 2xx,
// anything else retried at the head) drains through a stale illegal event, an unknown
// rollout and every input the binding used to refuse; each refusal is recorded, listed and
// counted. With --binding-refusals status the same events get the truthful 404/409/400.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { RolloutService } from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { getRecord } from "../../src/storage/get-record.js";
import {
  type BindingResponse,
  cleanup,
  client,
  makeTestPki,
  openTestRollout,
  postBinding,
  startTestServer,
  type TestPki,
  type TestServer,
} from "./harness.js";

const ROLLOUT = "queue@0a1";
const TARGET = "def456-nixos-system-web-01";
const at = (s: number) => new Date(Date.UTC(2026, 4, 16, 1, 27, s)).toISOString();

interface Queued {
  /** What the entry exercises; the refusal reason it must be recorded with, if any. */
  readonly what: string;
  readonly refused?: string;
  /** The truthful status under --binding-refusals status. */
  readonly status: number;
  readonly body: unknown;
}

function entry(
  what: string,
  event: Record<string, unknown>,
  options: { refused?: string; status?: number; rolloutId?: string; signature?: string } = {},
): Queued {
  return {
    what,
    ...(options.refused ? { refused: options.refused } : {}),
    status: options.status ?? 204,
    body: {
      hostname: "web-01",
      rolloutId: options.rolloutId ?? ROLLOUT,
      event,
      ...(options.signature !== undefined ? { signature: options.signature } : {}),
    },
  };
}

/** The agent's queue, in order: every kind of event SPEC §10 says must not wedge it. */
function queue(): Queued[] {
  const probes = Array.from({ length: 300 }, (_, i) => ({
    probeName: `p${i}-${"n".repeat(300)}`,
    kind: "",
    mode: "observe",
  }));
  return [
    entry("DispatchAck", {
      kind: "DispatchAck",
      currentClosureAtDispatch: "",
      receivedAt: at(1),
      seq: 1,
    }),
    entry("an empty switchMethod", {
      kind: "ActivationStarted",
      startedAt: at(2),
      switchMethod: "",
      seq: 2,
    }),
    entry(
      "a stale illegal DispatchAck",
      { kind: "DispatchAck", currentClosureAtDispatch: "x", receivedAt: at(3), seq: 3 },
      { refused: "illegal_for_state", status: 409 },
    ),
    entry(
      "an unknown rollout",
      { kind: "DispatchAck", currentClosureAtDispatch: "x", receivedAt: at(3), seq: 1 },
      { refused: "not_found", status: 404, rolloutId: "gone@0ff" },
    ),
    entry(
      "a non-canonical rollout id",
      { kind: "DispatchAck", currentClosureAtDispatch: "x", receivedAt: at(3), seq: 1 },
      { refused: "not_found", status: 404, rolloutId: "Not A Rollout" },
    ),
    entry("seq 0 (a duplicate)", {
      kind: "ActivationStarted",
      startedAt: at(3),
      switchMethod: "x",
      seq: 0,
    }),
    entry("any component", {
      kind: "ActivationDeferred",
      component: "firmware",
      deferredAt: at(4),
      seq: 4,
    }),
    entry("an exit code beyond int32", {
      kind: "ActivationCompleted",
      observedCurrentClosure: TARGET,
      exitCode: 2 ** 40,
      completedAt: at(5),
      seq: 5,
    }),
    entry("300 probes with 300-character names and empty kinds", {
      kind: "ProbeTopologyDeclared",
      probes,
      declaredAt: at(6),
      seq: 6,
    }),
    entry(
      "a 5000-character failure reason (the host's record would keep it)",
      {
        kind: "ProbeResult",
        probeName: "x",
        mode: "observe",
        status: "fail",
        observedAt: at(7),
        failureReason: "r".repeat(5000),
        seq: 7,
      },
      { refused: "unsafe_input", status: 400 },
    ),
    entry(
      "a NUL in a string",
      {
        kind: "ProbeResult",
        probeName: "p",
        mode: "observe",
        status: "fail",
        observedAt: at(8),
        failureReason: "bad\u0000byte",
        seq: 8,
      },
      { refused: "unsafe_input", status: 400 },
    ),
    entry(
      "a seq beyond 2^53-1",
      {
        kind: "ProbeObservedFirst",
        probeName: "p",
        mode: "observe",
        observedAt: at(9),
        seq: 2 ** 60,
      },
      { refused: "unsafe_input", status: 400 },
    ),
    entry(
      "a signature that is not hex",
      { kind: "ProbeObservedFirst", probeName: "p", mode: "observe", observedAt: at(9), seq: 9 },
      { refused: "signature", status: 400, signature: "not-hex" },
    ),
    entry(
      "Converged on the wrong closure",
      { kind: "Converged", convergedAt: at(10), currentClosure: "elsewhere", seq: 10 },
      { refused: "invariant", status: 409 },
    ),
    entry("Converged", {
      kind: "Converged",
      convergedAt: at(11),
      currentClosure: TARGET,
      seq: 11,
    }),
  ];
}

/**
 * Plays the original agent: post the head; delete it on a 2xx, else retry it. `dropOn4xx`
 * plays an agent that understands refusals. Fails when the head is stuck (wedged).
 */
async function drain(
  server: TestServer,
  pki: TestPki,
  entries: Queued[],
  dropOn4xx: boolean,
): Promise<BindingResponse[]> {
  const answers: BindingResponse[] = [];
  const pending = [...entries];
  let attempts = 0;
  while (pending.length > 0) {
    const head = pending[0] as Queued;
    const res = await postBinding(server.url, pki.ca, pki.agent("web-01"), head.body);
    const ok = res.status >= 200 && res.status < 300;
    if (ok || (dropOn4xx && res.status >= 400 && res.status < 500)) {
      answers.push(res);
      pending.shift();
      attempts = 0;
      continue;
    }
    attempts++;
    assert.ok(attempts < 5, `wedged on "${head.what}": ${res.status} ${res.body}`);
  }
  return answers;
}

async function refusalMetric(server: TestServer, reason: string): Promise<number> {
  const metric = await server.service.metrics.registry.getSingleMetric(
    "nixfleet_cp_refused_events_total",
  );
  const values = (await metric?.get())?.values ?? [];
  return values.filter((v) => v.labels["reason"] === reason).reduce((sum, v) => sum + v.value, 0);
}

for (const mode of ["record", "status"] as const) {
  describe(`the original agent's queue, --binding-refusals ${mode}`, () => {
    let pki: TestPki;
    let server: TestServer;
    before(async () => {
      pki = await makeTestPki();
      server = await startTestServer(pki, ["--binding-refusals", mode]);
      await openTestRollout(server, ROLLOUT, ["web-01"], {
        now: "2026-05-16T01:20:00Z",
        target: () => TARGET,
      });
    });
    after(async () => {
      await server.service.shutdown();
      cleanup(pki);
    });

    test(
      mode === "record"
        ? "drains: every refusal answered 202 with the verdict"
        : "answers the truthful 404 / 409 / 400 (an agent that drops 4xx drains)",
      async () => {
        const entries = queue();
        const answers = await drain(server, pki, entries, mode === "status");
        for (const [i, e] of entries.entries()) {
          const res = answers[i] as BindingResponse;
          if (e.refused === undefined) {
            assert.equal(res.status, 204, `${e.what}: ${res.body}`);
            continue;
          }
          const body = JSON.parse(res.body);
          if (mode === "record") {
            assert.equal(res.status, 202, `${e.what}: ${res.body}`);
            assert.equal(body.outcome, "refused", e.what);
            assert.equal(body.reason, e.refused, e.what);
          } else {
            assert.equal(res.status, e.status, `${e.what}: ${res.body}`);
          }
        }
      },
    );

    test("the host ends in the right state", async () => {
      const record = await getRecord(server.service.database.db, ROLLOUT, "web-01");
      assert.equal(record?.state, "Converged");
      assert.equal(record?.lastEventSeq, 11);
      assert.equal(record?.currentClosure, TARGET);
    });

    test("each refusal is listed by the operator RPC and counted in metrics", async () => {
      const ops = client(RolloutService, server.url, pki.ca, pki.operator);
      const { refusedEvents } = await ops.listRefusedEvents({ hostname: "web-01" });
      const expected = queue().filter((e) => e.refused !== undefined);
      assert.deepEqual(
        refusedEvents.map((r) => [r.reason, r.count]),
        expected.map((e) => [e.refused, 1n]),
      );
      for (const r of refusedEvents) {
        assert.equal(r.peer, "agent-web-01.fleet.lab.internal");
        assert.equal(r.protocol, "http-json");
        // The request as received: the body the agent sent, byte for byte.
        assert.ok(r.request.startsWith('{"hostname":"web-01"'), r.request);
      }
      const nul = refusedEvents.find((r) => r.field === "event.failureReason");
      assert.equal(nul?.reason, "unsafe_input");
      const bigSeq = refusedEvents.find((r) => r.field === "event.seq");
      assert.equal(bigSeq?.seq, 0n, "a seq that cannot be read exactly is kept as 0");
      for (const reason of new Set(expected.map((e) => e.refused as string))) {
        assert.equal(
          await refusalMetric(server, reason),
          expected.filter((e) => e.refused === reason).length,
          reason,
        );
      }
    });

    test("a retried refusal is counted on its entry, not added", async () => {
      const unknown = queue()[3] as Queued;
      await postBinding(server.url, pki.ca, pki.agent("web-01"), unknown.body);
      const ops = client(RolloutService, server.url, pki.ca, pki.operator);
      const { refusedEvents } = await ops.listRefusedEvents({ rolloutId: "gone@0ff" });
      assert.deepEqual(
        refusedEvents.map((r) => [r.seq, r.kind, r.reason, r.count]),
        [[1n, "DispatchAck", "not_found", 2n]],
      );
      // The stale event is now below the record's seq: a duplicate, as any retry would be.
      const stale = queue()[2] as Queued;
      const res = await postBinding(server.url, pki.ca, pki.agent("web-01"), stale.body);
      assert.equal(res.status, 204);
    });
  });
}
