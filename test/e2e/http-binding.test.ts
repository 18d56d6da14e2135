// The HTTP JSON binding POST /v1/agent/events over real mTLS: every SPEC §3.2 example body
// applied from its state, every HTTP status of SPEC §3.3 with nothing written on failure,
// and refusals on the merits answered 202 with the verdict (SPEC §10, the default).
import assert from "node:assert/strict";
import { request as httpsRequest } from "node:https";
import { after, before, describe, test } from "node:test";
import { getRecord } from "../../src/storage/get-record.js";
import { listEvents } from "../../src/storage/list-events.js";
import { listQuarantines } from "../../src/storage/list-quarantines.js";
import { SPEC_EXAMPLES } from "../fixtures/spec-examples.js";
import {
  cleanup,
  type Identity,
  makeTestPki,
  openTestRollout,
  postBinding,
  request,
  startTestServer,
  type TestPki,
  type TestServer,
  writeRevocations,
} from "./harness.js";

/** The SPEC example of a kind (the nth when a kind has several), retargeted at `rolloutId`. */
function example(kind: string, rolloutId: string, nth = 0): Record<string, unknown> {
  const found = SPEC_EXAMPLES.filter((e) => e.kind === kind)[nth];
  assert.ok(found, `no example ${kind}#${nth}`);
  return { ...JSON.parse(found.body), rolloutId };
}

// The examples are dated 2026-05-16; open their rollouts just before so Converged's soak holds.
const OPENED_AT = "2026-05-16T01:20:00Z";

describe("HTTP JSON binding", () => {
  let pki: TestPki;
  let server: TestServer;
  let web01: Identity;
  const post = (body: unknown, identity: Identity | undefined = web01, contentType?: string) =>
    postBinding(server.url, pki.ca, identity, body, contentType);
  const db = () => server.service.database.db;

  before(async () => {
    pki = await makeTestPki();
    web01 = pki.agent("web-01");
    const revocations = writeRevocations(pki, [
      {
        hostname: "web-01",
        notBefore: new Date(Date.now() - 1800_000).toISOString(),
        reason: "lost laptop",
      },
    ]);
    server = await startTestServer(pki, [
      "--revocations",
      revocations,
      "--max-message-bytes",
      "65536",
    ]);
    for (const id of [
      "revert@0a",
      "actfail@0b",
      "defer@0c",
      "conv@0d",
      "blocked@0e",
      "errors@0f",
    ]) {
      await openTestRollout(server, id, ["web-01", "web-02"], {
        now: OPENED_AT,
        soakDurationSecs: 60,
      });
    }
  });
  after(async () => {
    await server.service.shutdown();
    cleanup(pki);
  });

  async function applyAll(rolloutId: string, steps: [string, number?][]): Promise<void> {
    for (const [kind, nth] of steps) {
      const res = await post(example(kind, rolloutId, nth));
      assert.equal(res.status, 204, `${kind}: ${res.body}`);
      assert.equal(res.body, "");
    }
  }

  test("soaking failure then rollback: every probe example, Failed, RollbackComplete → Reverted", async () => {
    await applyAll("revert@0a", [
      ["DispatchAck"],
      ["ActivationStarted"],
      ["ActivationCompleted"],
      ["ProbeTopologyDeclared"],
      ["ProbeObservedFirst"],
      ["ProbeResult", 0],
      ["ProbeResult", 1],
      ["ProbeFailureFirst"],
      ["Failed"],
      ["RollbackComplete"],
    ]);
    const record = await getRecord(db(), "revert@0a", "web-01");
    assert.equal(record?.state, "Reverted");
    assert.equal(record?.lastEventSeq, 10);
    assert.equal(record?.revertedTo, "abc123-nixos-system-web-01-prev");
    assert.equal(record?.policyApplied, "rollback-and-halt");
    const quarantines = await listQuarantines(db(), "revert");
    assert.deepEqual(
      quarantines.map((q) => q.closure),
      ["def456-nixos-system-web-01"],
    );
    const log = await listEvents(db(), { rolloutId: "revert@0a", limit: 100 });
    assert.deepEqual(
      log.map((e) => e.seq),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    // The log keeps the agent's payload as the binding carried it.
    const subResults = (log[6]?.event as { subResults?: unknown[] } | undefined)?.subResults;
    assert.equal(subResults?.length, 2);
  });

  test("ActivationFailed from Activating → Failed with the rollout's policy", async () => {
    await applyAll("actfail@0b", [["DispatchAck"], ["ActivationStarted"], ["ActivationFailed"]]);
    const record = await getRecord(db(), "actfail@0b", "web-01");
    assert.equal(record?.state, "Failed");
    assert.equal(record?.policyApplied, "rollback-and-halt");
  });

  test("ActivationDeferred → Deferred", async () => {
    await applyAll("defer@0c", [["DispatchAck"], ["ActivationStarted"], ["ActivationDeferred"]]);
    assert.equal((await getRecord(db(), "defer@0c", "web-01"))?.state, "Deferred");
  });

  test("Converged after the soak with passing enforce probes", async () => {
    await applyAll("conv@0d", [
      ["DispatchAck"],
      ["ActivationStarted"],
      ["ActivationCompleted"],
      ["ProbeTopologyDeclared"],
      ["ProbeObservedFirst"],
      ["ProbeResult", 0],
      ["Converged"],
    ]);
    const record = await getRecord(db(), "conv@0d", "web-01");
    assert.equal(record?.state, "Converged");
    assert.equal(record?.lastEventSeq, 11);
  });

  test("202 refused: Converged with a failing enforce probe names the invariant; nothing changes", async () => {
    await applyAll("blocked@0e", [
      ["DispatchAck"],
      ["ActivationStarted"],
      ["ActivationCompleted"],
      ["ProbeResult", 1],
    ]);
    const res = await post(example("Converged", "blocked@0e"));
    assert.equal(res.status, 202);
    const verdict = JSON.parse(res.body);
    assert.equal(verdict.outcome, "refused");
    assert.equal(verdict.code, "failed_precondition");
    assert.equal(verdict.reason, "invariant");
    assert.match(verdict.message, /enforceProbesPass/);
    const record = await getRecord(db(), "blocked@0e", "web-01");
    assert.equal(record?.state, "Soaking");
    assert.equal(record?.lastEventSeq, 7);
  });

  test("204 for a duplicate, again and again", async () => {
    for (let i = 0; i < 3; i++) {
      assert.equal((await post(example("DispatchAck", "actfail@0b"))).status, 204);
    }
    assert.equal((await listEvents(db(), { rolloutId: "actfail@0b", limit: 100 })).length, 3);
  });

  describe("rejections change nothing", () => {
    const rollout = "errors@0f";
    const count = async () => (await listEvents(db(), { rolloutId: rollout, limit: 100 })).length;
    const ack = () => example("DispatchAck", rollout);

    test("400 names the field: malformed JSON, missing field, bad enum, mistyped seq", async () => {
      const cases: [unknown, string][] = [
        ['{"hostname":', "body"],
        [
          { ...ack(), event: { kind: "DispatchAck", seq: 1, receivedAt: "2026-05-16T01:27:01Z" } },
          "event.currentClosureAtDispatch",
        ],
        [
          { ...ack(), event: { ...(ack()["event"] as object), receivedAt: "yesterday" } },
          "event.receivedAt",
        ],
        [{ ...ack(), event: { ...(ack()["event"] as object), kind: "Exploded" } }, "event.kind"],
        [{ ...ack(), event: { ...(ack()["event"] as object), seq: -1 } }, "event.seq"],
        [{ ...ack(), event: { ...(ack()["event"] as object), seq: 1.5 } }, "event.seq"],
        [
          {
            ...example("ProbeResult", rollout),
            event: { ...(example("ProbeResult", rollout)["event"] as object), mode: "loud" },
          },
          "event.mode",
        ],
        [[1, 2], "body"],
      ];
      for (const [body, field] of cases) {
        const res = await post(body);
        assert.equal(res.status, 400, `${field}: ${res.body}`);
        const parsed = JSON.parse(res.body);
        assert.equal(parsed.field, field, res.body);
        assert.equal(parsed.code, "invalid_argument");
      }
      assert.equal(await count(), 0);
    });

    test("unknown extra keys are ignored; failureReason and subResults may be null", async () => {
      const body = { ...ack(), extra: true, event: { ...(ack()["event"] as object), future: 1 } };
      assert.equal((await post(body)).status, 204);
    });

    test("401: a revoked certificate", async () => {
      const res = await post(example("ActivationStarted", rollout), pki.oldWeb01);
      assert.equal(res.status, 401);
      assert.match(JSON.parse(res.body).message, /revoked/);
    });

    test("403: another host's certificate, or an operator's", async () => {
      assert.equal(
        (await post(example("ActivationStarted", rollout), pki.agent("web-02"))).status,
        403,
      );
      assert.equal((await post(example("ActivationStarted", rollout), pki.operator)).status, 403);
    });

    test("202 refused: no record for the pair (a well-formed or non-canonical rollout id)", async () => {
      for (const rolloutId of ["ghost@0123", "stable@XYZ"]) {
        const res = await post(example("DispatchAck", rolloutId));
        assert.equal(res.status, 202, res.body);
        assert.deepEqual(JSON.parse(res.body), {
          outcome: "refused",
          code: "not_found",
          reason: "not_found",
          message: `no record for host "web-01" in rollout "${rolloutId}"`,
        });
      }
    });

    test("202 refused: illegal for the state", async () => {
      const res = await post({
        ...example("Converged", rollout),
        event: { ...(example("Converged", rollout)["event"] as object), seq: 2 },
      });
      assert.equal(res.status, 202);
      assert.match(
        JSON.parse(res.body).message,
        /Converged is illegal for a host in state Activating/,
      );
    });

    test("202 refused, naming the field: a seq beyond 2^53-1, a NUL", async () => {
      const cases: [unknown, string][] = [
        [{ ...ack(), event: { ...(ack()["event"] as object), seq: 2 ** 60 } }, "event.seq"],
        [
          {
            ...ack(),
            event: { ...(ack()["event"] as object), currentClosureAtDispatch: "a\u0000" },
          },
          "event.currentClosureAtDispatch",
        ],
      ];
      for (const [body, field] of cases) {
        const res = await post(body);
        assert.equal(res.status, 202, res.body);
        const verdict = JSON.parse(res.body);
        assert.equal(verdict.reason, "unsafe_input");
        assert.equal(verdict.code, "invalid_argument");
        assert.equal(verdict.field, field);
      }
    });

    test("413: a body over the limit", async () => {
      const big = { ...ack(), padding: "x".repeat(70_000) };
      assert.equal((await post(big)).status, 413);
    });

    test("415: not JSON", async () => {
      assert.equal((await post(ack(), web01, "text/plain")).status, 415);
    });

    test("405: another method", async () => {
      const res = await request(server.url, pki.ca, web01, {
        path: "/v1/agent/events",
        method: "GET",
      });
      assert.equal(res.status, 405);
      assert.equal(res.headers["allow"], "POST");
    });

    test("the records stayed as the accepted events left them", async () => {
      const record = await getRecord(db(), rollout, "web-01");
      assert.equal(record?.state, "Activating");
      assert.equal(record?.lastEventSeq, 1);
      assert.equal(await count(), 1);
    });
  });

  test("HTTP/1.1 agents reach the binding too", async () => {
    const body = JSON.stringify(example("DispatchAck", "errors@0f"));
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        `${server.url}/v1/agent/events`,
        {
          method: "POST",
          ca: pki.ca,
          cert: web01.cert,
          key: web01.key,
          headers: { "content-type": "application/json" },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
    assert.equal(status, 204);
  });
});
