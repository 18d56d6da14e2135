// Auditable signatures (SPEC §9): events signed over the binding (with nulls, unknown keys,
// offset timestamps, a missing subResults) and over Connect all re-verify from the log with
// `nixfleet-cp audit`; a row tampered in the database is reported and audit exits 1.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createPublicKey, sign } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import {
  AgentEventsService,
  Outcome,
  PostEventRequestSchema,
} from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { ProbeMode, ProbeStatus } from "../../gen/nixfleet/agent/v1/events_pb.js";
import { RolloutService } from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { canonicalJson } from "../../src/server/signature/canonical-json.js";
import { listEvents } from "../../src/storage/list-events.js";
import {
  cleanup,
  client,
  type Identity,
  makeTestPki,
  openTestRollout,
  postBinding,
  startTestServer,
  type TestPki,
  type TestServer,
} from "./harness.js";

const exec = promisify(execFile);
const BIN = new URL("../../bin/nixfleet-cp", import.meta.url).pathname;
const ROLLOUT = "audit@0a";
const TARGET = (h: string) => `def456-nixos-system-${h}`;

const signText = (identity: Identity, text: string) =>
  sign("sha256", Buffer.from(text), { key: identity.key, dsaEncoding: "der" });

/** The agent's signature over the RFC 8785 JSON of exactly this object. */
const signRaw = (identity: Identity, event: unknown) => signText(identity, canonicalJson(event));

async function audit(
  db: string,
  extra: string[] = [],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, "audit", "--db", db, ...extra], {
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("auditable signatures", () => {
  let pki: TestPki;
  let server: TestServer;
  let db: string;
  before(async () => {
    pki = await makeTestPki();
    db = `${pki.dir}/audit.sqlite`;
    server = await startTestServer(pki, ["--db", db]);
    await openTestRollout(server, ROLLOUT, ["web-01", "web-02"], {
      now: "2026-05-16T01:20:00Z",
      target: TARGET,
    });
  });
  after(async () => {
    await server.service.shutdown();
    cleanup(pki);
  });

  test("signed over the binding: nulls, unknown keys, offset timestamps, no subResults", async () => {
    const web01 = pki.agent("web-01");
    const events: [Record<string, unknown>, "raw" | "normalized"][] = [
      [
        {
          kind: "DispatchAck",
          currentClosureAtDispatch: "abc123-prev",
          receivedAt: "2026-05-16T03:27:01+02:00",
          agentVersion: "0.9.1",
          seq: 1,
        },
        "raw",
      ],
      [
        {
          kind: "ActivationCompleted",
          observedCurrentClosure: TARGET("web-01"),
          exitCode: 0,
          completedAt: "2026-05-16T01:27:05.250Z",
          seq: 2,
        },
        "raw",
      ],
      [
        {
          kind: "ProbeResult",
          probeName: "http",
          mode: "enforce",
          status: "pass",
          observedAt: "2026-05-16T01:27:20Z",
          failureReason: null,
          subResults: null,
          seq: 3,
        },
        "raw",
      ],
      // Signed over the canonical form (nulls left out) but sent with them.
      [
        {
          kind: "ProbeResult",
          probeName: "http",
          mode: "enforce",
          status: "pass",
          observedAt: "2026-05-16T01:27:21Z",
          failureReason: null,
          seq: 4,
        },
        "normalized",
      ],
      // No subResults at all.
      [
        {
          kind: "ProbeResult",
          probeName: "evidence",
          mode: "observe",
          status: "fail",
          observedAt: "2026-05-16T01:27:22Z",
          seq: 5,
        },
        "raw",
      ],
    ];
    for (const [event, how] of events) {
      const signed =
        how === "raw"
          ? signRaw(web01, event)
          : signRaw(web01, Object.fromEntries(Object.entries(event).filter(([, v]) => v !== null)));
      const res = await postBinding(server.url, pki.ca, web01, {
        hostname: "web-01",
        rolloutId: ROLLOUT,
        event,
        signature: signed.toString("hex"),
      });
      assert.equal(
        res.status,
        204,
        `${String(event["kind"])} #${String(event["seq"])}: ${res.body}`,
      );
    }
  });

  test("signed over Connect: with and without an explicit empty subResults", async () => {
    const web02 = pki.agent("web-02");
    const agent = client(AgentEventsService, server.url, pki.ca, web02, "connect-binary");
    const ack = {
      kind: "DispatchAck",
      currentClosureAtDispatch: "abc123-prev",
      receivedAt: "2026-05-16T01:27:01Z",
      seq: 1,
    };
    const done = {
      kind: "ActivationCompleted",
      observedCurrentClosure: TARGET("web-02"),
      exitCode: 0,
      completedAt: "2026-05-16T01:27:05.500Z",
      seq: 2,
    };
    const probe = (seq: number) => ({
      kind: "ProbeResult",
      probeName: "http",
      mode: "enforce",
      status: "pass",
      observedAt: "2026-05-16T01:27:20Z",
      seq,
    });
    const requests = [
      {
        signed: signRaw(web02, ack),
        event: {
          seq: 1n,
          kind: {
            case: "dispatchAck" as const,
            value: {
              currentClosureAtDispatch: "abc123-prev",
              receivedAt: { seconds: 1778894821n },
            },
          },
        },
      },
      {
        signed: signRaw(web02, done),
        event: {
          seq: 2n,
          kind: {
            case: "activationCompleted" as const,
            value: {
              observedCurrentClosure: TARGET("web-02"),
              exitCode: 0,
              completedAt: { seconds: 1778894825n, nanos: 500_000_000 },
            },
          },
        },
      },
      ...[3, 4].map((seq) => ({
        // One agent signs the list even when empty, the other leaves it out.
        signed: signRaw(web02, seq === 3 ? { ...probe(seq), subResults: [] } : probe(seq)),
        event: {
          seq: BigInt(seq),
          kind: {
            case: "probeResult" as const,
            value: {
              probeName: "http",
              mode: ProbeMode.ENFORCE,
              status: ProbeStatus.PASS,
              observedAt: { seconds: 1778894840n },
            },
          },
        },
      })),
    ];
    for (const r of requests) {
      const res = await agent.postEvent(
        create(PostEventRequestSchema, {
          hostname: "web-02",
          rolloutId: ROLLOUT,
          signature: r.signed,
          event: r.event,
        }),
      );
      assert.equal(res.outcome, Outcome.APPLIED);
    }
  });

  test("ListEvents shows what each signature covers and the signer's key", async () => {
    const ops = client(RolloutService, server.url, pki.ca, pki.operator);
    const { events } = await ops.listEvents({ rolloutId: ROLLOUT, hostname: "web-02" });
    assert.equal(
      events[0]?.signedForm,
      '{"currentClosureAtDispatch":"abc123-prev","kind":"DispatchAck","receivedAt":"2026-05-16T01:27:01Z","seq":1}',
    );
    const key = createPublicKey(pki.agent("web-02").cert).export({ type: "spki", format: "der" });
    assert.deepEqual(Buffer.from(events[0]?.signerPublicKey ?? []), key);
    // The agent that signed "subResults":[] is kept with exactly that text.
    assert.match(events[2]?.signedForm ?? "", /"subResults":\[\]/);
    assert.doesNotMatch(events[3]?.signedForm ?? "", /subResults/);
  });

  test("audit re-verifies every signed event from the log", async () => {
    const r = await audit(db);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^9 signed events checked, 0 failed$/m);
    const one = await audit(db, ["--host", "web-02", "--rollout", ROLLOUT]);
    assert.match(one.stdout, /^4 signed events checked, 0 failed$/m);
  });

  test("a row tampered in the database is reported and audit exits 1", async () => {
    const log = await listEvents(server.service.database.db, { rolloutId: ROLLOUT, limit: 100 });
    const victim = log.find((e) => e.hostname === "web-01" && e.seq === 2);
    const other = log.find((e) => e.hostname === "web-02" && e.seq === 1);
    assert.ok(victim && other);
    const rawDb = server.service.database.db;
    const row = await rawDb
      .selectFrom("event_log")
      .select(["payload", "signed_form"])
      .where("id", "=", victim.id)
      .executeTakeFirstOrThrow();
    // The logged event now claims another closure; the signed form still says the old one.
    await rawDb
      .updateTable("event_log")
      .set({ payload: row.payload.replace(TARGET("web-01"), "evil-closure") })
      .where("id", "=", victim.id)
      .execute();
    // And the kept signed form of another row is rewritten to match a forged payload.
    const forged = await rawDb
      .selectFrom("event_log")
      .select(["payload", "signed_form"])
      .where("id", "=", other.id)
      .executeTakeFirstOrThrow();
    await rawDb
      .updateTable("event_log")
      .set({
        payload: forged.payload.replace("abc123-prev", "forged"),
        signed_form: (forged.signed_form ?? "").replace("abc123-prev", "forged"),
      })
      .where("id", "=", other.id)
      .execute();
    const r = await audit(db);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`^BAD  id ${victim.id} .*differs from the event that was signed$`, "m"),
    );
    assert.match(r.stdout, new RegExp(`^BAD  id ${other.id} .*signature does not verify`, "m"));
    assert.match(r.stdout, /^9 signed events checked, 2 failed \(listed above\)$/m);
    const json = await audit(db, ["--json", "--host", "web-02"]);
    assert.equal(json.code, 1);
    assert.deepEqual(
      json.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).id),
      [other.id],
    );
  });
});
