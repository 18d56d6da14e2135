// The whole service on PostgreSQL: two CP replicas sharing one database, each posted the same
// events (and heartbeats) concurrently, twice each, apply (and synthesize) every event exactly
// once.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import {
  AgentEventsService,
  Outcome,
} from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { getRecord } from "../../src/storage/get-record.js";
import { listEvents } from "../../src/storage/list-events.js";
import { testPostgresUrl } from "../test-postgres.js";
import { streamBody } from "./agent-stream.js";
import { batched } from "./batch-events.js";
import {
  cleanup,
  client,
  makeTestPki,
  openTestRollout,
  postBinding,
  request,
  startTestServer,
  type TestPki,
  type TestServer,
} from "./harness.js";

describe("two replicas on one PostgreSQL database", () => {
  let pki: TestPki;
  let a: TestServer;
  let b: TestServer;
  const dbName = `nixfleet_e2e_${randomBytes(6).toString("hex")}`;
  let admin: pg.Client;

  before(async () => {
    // Fails (never skips) when PostgreSQL is unreachable.
    const adminUrl = await testPostgresUrl();
    admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`create database ${dbName}`);
    const url = new URL(adminUrl);
    url.pathname = `/${dbName}`;
    pki = await makeTestPki();
    a = await startTestServer(pki, ["--db", url.toString()]);
    b = await startTestServer(pki, ["--db", url.toString()]);
    await openTestRollout(a, "pg@01", ["h1", "h2", "h3", "h4"]);
  });
  after(async () => {
    await a?.service.shutdown();
    await b?.service.shutdown();
    await admin?.query(`drop database if exists ${dbName} with (force)`);
    await admin?.end();
    cleanup(pki);
  });

  test("the same events posted to both replicas at once are applied exactly once", async () => {
    const hosts = ["h1", "h2", "h3", "h4"];
    const seqs = 30;
    for (let seq = 1; seq <= seqs; seq++) {
      const posts = hosts.flatMap((h) =>
        [a, b].flatMap((server) =>
          [0, 1].map(() =>
            postBinding(server.url, pki.ca, pki.agent(h), streamBody(h, "pg@01", seq)),
          ),
        ),
      );
      const statuses = (await Promise.all(posts)).map((r) => r.status);
      assert.ok(
        statuses.every((s) => s === 204),
        `seq ${seq}: ${statuses.join(",")}`,
      );
    }
    const log = await listEvents(a.service.database.db, { rolloutId: "pg@01", limit: 1000 });
    assert.equal(log.length, hosts.length * seqs);
    for (const h of hosts) {
      const record = await getRecord(b.service.database.db, "pg@01", h);
      assert.equal(record?.lastEventSeq, seqs);
      assert.equal(record?.state, "Activating");
      const mine = log.filter((e) => e.hostname === h).map((e) => e.seq);
      assert.deepEqual(
        mine,
        Array.from({ length: seqs }, (_, i) => i + 1),
      );
    }
  });

  test("the same PostEvents calls to both replicas at once apply each event exactly once", async () => {
    const hosts = ["h1", "h2", "h3", "h4"];
    await openTestRollout(a, "pgb@02", hosts);
    const events = Array.from({ length: 20 }, (_, k) => batched("pgb@02", k + 1));
    const calls = hosts.flatMap((h) =>
      [a, b, a, b].map(async (server) => {
        const agent = client(
          AgentEventsService,
          server.url,
          pki.ca,
          pki.agent(h),
          "connect-binary",
        );
        const res = await agent.postEvents({ hostname: h, events });
        return { h, res };
      }),
    );
    const applied = new Map<string, number>();
    for (const { h, res } of await Promise.all(calls)) {
      assert.equal(res.verdicts.length, 20);
      for (const [k, v] of res.verdicts.entries()) {
        const error = v.verdict.case === "error" ? v.verdict.value : undefined;
        assert.equal(
          v.verdict.case,
          "accepted",
          `${h} seq ${k + 1}: ${error?.code} ${error?.message}`,
        );
        if (v.verdict.case === "accepted" && v.verdict.value.outcome === Outcome.APPLIED) {
          applied.set(`${h}/${k + 1}`, (applied.get(`${h}/${k + 1}`) ?? 0) + 1);
        }
      }
    }
    for (const h of hosts) {
      const logged = await listEvents(a.service.database.db, {
        rolloutId: "pgb@02",
        hostname: h,
        limit: 100,
      });
      assert.deepEqual(
        logged.map((e) => e.seq),
        Array.from({ length: 20 }, (_, k) => k + 1),
        `${h}: each seq logged once`,
      );
      for (let seq = 1; seq <= 20; seq++) {
        assert.equal(applied.get(`${h}/${seq}`), 1, `${h} seq ${seq}: answered APPLIED once`);
      }
    }
  });

  test("the same heartbeat to both replicas at once synthesizes once", async () => {
    const hosts = ["h1", "h2", "h3", "h4"];
    await openTestRollout(a, "pghb@02", hosts);
    for (const h of hosts) {
      const ack = {
        hostname: h,
        rolloutId: "pghb@02",
        event: {
          kind: "DispatchAck",
          currentClosureAtDispatch: "p",
          receivedAt: "2026-05-16T01:27:01Z",
          seq: 1,
        },
      };
      assert.equal((await postBinding(a.url, pki.ca, pki.agent(h), ack)).status, 204);
    }
    const beats = hosts.flatMap((h) =>
      [a, b, a, b].map((server) =>
        request(server.url, pki.ca, pki.agent(h), {
          path: "/v1/agent/heartbeat",
          body: `{"hostname":"${h}","current_closure":"def456-nixos-system-${h}","at":"2026-05-16T01:40:00Z"}`,
        }),
      ),
    );
    const statuses = (await Promise.all(beats)).map((r) => r.status);
    assert.ok(
      statuses.every((s) => s === 200),
      statuses.join(","),
    );
    const log = await listEvents(b.service.database.db, { rolloutId: "pghb@02", limit: 1000 });
    assert.deepEqual(
      log
        .filter((e) => e.synthesized)
        .map((e) => `${e.hostname}#${e.seq}`)
        .sort(),
      hosts.map((h) => `${h}#2`),
    );
    for (const h of hosts) {
      assert.equal((await getRecord(a.service.database.db, "pghb@02", h))?.state, "Soaking");
    }
  });
});
