// Two CP replicas on one PostgreSQL database share one watch: a WatchRollout on either sees
// every change committed through either, in commit order, once; a LISTEN connection that
// drops is re-established and catches up; a follower paging ListEvents never misses an event
// whose lower id commits late.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { HostState } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import {
  RolloutService,
  type WatchRolloutResponse,
} from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import type { RemoteEvent } from "../../src/core/event.js";
import { LISTENER_APPLICATION_NAME } from "../../src/storage/log-commit-listener.js";
import { ev, T0 } from "../storage/events.js";
import { testPostgresUrl } from "../test-postgres.js";
import {
  cleanup,
  client,
  makeTestPki,
  openTestRollout,
  postBinding,
  startTestServer,
  type TestPki,
  type TestServer,
} from "./harness.js";

const ADMIN_URL = await testPostgresUrl();
const target = (h: string) => `def456-nixos-system-${h}`;

/** An open WatchRollout stream and what it delivered so far. */
interface Watch {
  readonly messages: WatchRolloutResponse[];
  /** (hostname, from, to, eventId) of every change, in arrival order. */
  changes(): [string, string, string, bigint][];
  /** Resolves when `done` holds (checked on every message), rejects after `ms`. */
  until(done: () => boolean, ms: number): Promise<void>;
  close(): Promise<void>;
}

async function openWatch(server: TestServer, pki: TestPki, rolloutId: string): Promise<Watch> {
  const abort = new AbortController();
  const messages: WatchRolloutResponse[] = [];
  const waiters = new Set<() => void>();
  const stream = client(RolloutService, server.url, pki.ca, pki.operator).watchRollout(
    { rolloutId },
    { signal: abort.signal },
  );
  const running = (async () => {
    for await (const m of stream) {
      messages.push(m);
      for (const w of waiters) w();
    }
  })().catch(() => {});
  const watch: Watch = {
    messages,
    changes: () =>
      messages.flatMap((m) =>
        m.update.case === "change"
          ? [
              [
                m.update.value.hostname,
                HostState[m.update.value.from],
                HostState[m.update.value.to],
                m.update.value.eventId,
              ] as [string, string, string, bigint],
            ]
          : [],
      ),
    until(done, ms) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!done()) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`watch: condition not met within ${ms} ms`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
    async close() {
      abort.abort();
      await running;
    },
  };
  await watch.until(() => messages.some((m) => m.update.case === "snapshotComplete"), 5000);
  return watch;
}

async function post(
  server: TestServer,
  pki: TestPki,
  rolloutId: string,
  h: string,
  event: RemoteEvent,
) {
  const res = await postBinding(server.url, pki.ca, pki.agent(h), {
    hostname: h,
    rolloutId,
    event,
  });
  assert.equal(res.status, 204, `${h} seq ${event.seq}: ${res.status} ${res.body}`);
}

/** A host's way to Converged: Activating, Soaking, Converged (soak 0). */
function converge(h: string): RemoteEvent[] {
  return [
    ev.dispatchAck(1),
    ev.activationStarted(2),
    ev.activationCompleted(3, target(h)),
    ev.converged(4, target(h), 10),
  ];
}

async function waitFor(what: string, ms: number, done: () => Promise<boolean>): Promise<void> {
  for (const end = Date.now() + ms; !(await done()); ) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("one watch across two replicas on PostgreSQL", () => {
  let pki: TestPki;
  let a: TestServer;
  let b: TestServer;
  const dbName = `nixfleet_e2e_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  let db: pg.Client;
  let dbUrl: string;

  before(async () => {
    await admin.connect();
    await admin.query(`create database ${dbName}`);
    const url = new URL(ADMIN_URL);
    url.pathname = `/${dbName}`;
    pki = await makeTestPki();
    a = await startTestServer(pki, ["--db", url.toString()]);
    b = await startTestServer(pki, ["--db", url.toString()]);
    dbUrl = url.toString();
    db = new pg.Client({ connectionString: dbUrl });
    await db.connect();
  });
  after(async () => {
    await db?.end();
    await a?.service.shutdown();
    await b?.service.shutdown();
    await admin.query(`drop database if exists ${dbName} with (force)`);
    await admin.end();
    cleanup(pki);
  });

  test("a watch on A sees each change committed via B within one second", async () => {
    const R = "pg@0a";
    await openTestRollout(a, R, ["h1", "h2"], { now: T0 });
    const watch = await openWatch(a, pki, R);
    try {
      const expected: [string, string, string][] = [];
      for (const h of ["h1", "h2"]) {
        // The events of converge(h) and the change each causes (ActivationStarted none).
        const moves = [
          ["PENDING", "ACTIVATING"],
          undefined,
          ["ACTIVATING", "SOAKING"],
          ["SOAKING", "CONVERGED"],
        ];
        for (const [i, event] of converge(h).entries()) {
          await post(b, pki, R, h, event);
          const move = moves[i];
          if (move === undefined) continue;
          expected.push([h, move[0]!, move[1]!]);
          const n = expected.length;
          await watch.until(() => watch.changes().length >= n, 1000);
        }
      }
      await new Promise((r) => setTimeout(r, 100)); // nothing more may arrive
      assert.deepEqual(
        watch.changes().map(([h, from, to]) => [h, from, to]),
        expected,
      );
    } finally {
      await watch.close();
    }
  });

  test("watches on both replicas see the same changes of concurrent posts to both, in commit order, once", async () => {
    const R = "pg@0b";
    const hosts = ["h1", "h2", "h3", "h4", "web-01", "web-02", "db-01"];
    await openTestRollout(b, R, hosts, { now: T0 });
    const onA = await openWatch(a, pki, R);
    const onB = await openWatch(b, pki, R);
    try {
      // Each host's events in order, hosts concurrently, alternate hosts through A and B.
      await Promise.all(
        hosts.map(async (h, i) => {
          for (const event of converge(h)) await post(i % 2 === 0 ? a : b, pki, R, h, event);
        }),
      );
      const total = hosts.length * 3;
      await onA.until(() => onA.changes().length >= total, 2000);
      await onB.until(() => onB.changes().length >= total, 2000);
      await new Promise((r) => setTimeout(r, 100));
      const changes = onA.changes();
      assert.equal(changes.length, total, "no duplicates");
      assert.deepEqual(onB.changes(), changes, "both replicas deliver the same sequence");
      const ids = changes.map(([, , , id]) => id);
      assert.deepEqual(
        ids,
        [...ids].sort((x, y) => (x < y ? -1 : 1)),
        "commit order",
      );
      for (const h of hosts) {
        assert.deepEqual(
          changes.filter(([host]) => host === h).map(([, from, to]) => `${from}>${to}`),
          ["PENDING>ACTIVATING", "ACTIVATING>SOAKING", "SOAKING>CONVERGED"],
        );
      }
    } finally {
      await onA.close();
      await onB.close();
    }
  });

  test("a dropped LISTEN connection is re-established and the watch catches up", async () => {
    const R = "pg@0c";
    await openTestRollout(a, R, ["h1"], { now: T0 });
    const watch = await openWatch(a, pki, R);
    try {
      const listeners = async () =>
        (
          await db.query<{ pid: number }>(
            "select pid from pg_stat_activity where application_name = $1 and datname = current_database()",
            [LISTENER_APPLICATION_NAME],
          )
        ).rows.map((r) => r.pid);
      const before = await listeners();
      assert.equal(before.length, 2, "one LISTEN connection per replica");
      await db.query("select pg_terminate_backend(pid) from unnest($1::int[]) as pid", [before]);
      await post(b, pki, R, "h1", ev.dispatchAck(1));
      await watch.until(() => watch.changes().length === 1, 5000);
      await waitFor("both replicas listen again", 5000, async () => {
        const now = await listeners();
        return now.length === 2 && now.every((pid) => !before.includes(pid));
      });
      await post(b, pki, R, "h1", ev.activationStarted(2));
      await post(b, pki, R, "h1", ev.activationCompleted(3, target("h1")));
      await watch.until(() => watch.changes().length === 2, 1000);
      assert.deepEqual(
        watch.changes().map(([h, from, to]) => [h, from, to]),
        [
          ["h1", "PENDING", "ACTIVATING"],
          ["h1", "ACTIVATING", "SOAKING"],
        ],
      );
    } finally {
      await watch.close();
    }
  });

  test("a follower paging ListEvents does not miss a lower id that commits late", async () => {
    const R = "pg@0d";
    await openTestRollout(a, R, ["h1", "h2"], { now: T0 });
    for (const event of converge("h1").slice(0, 3)) await post(a, pki, R, "h1", event);
    const ops = client(RolloutService, a.url, pki.ca, pki.operator);
    const seen: { id: bigint; hostname: string; seq: bigint }[] = [];
    let cursor = 0n;
    const page = async () => {
      for (;;) {
        const res = await ops.listEvents({ rolloutId: R, afterId: cursor, limit: 100 });
        if (res.events.length === 0) return;
        seen.push(...res.events.map((e) => ({ id: e.id, hostname: e.hostname, seq: e.seq })));
        cursor = res.lastId;
      }
    };
    await page();

    // Stall A's next batch after it has inserted its event row (it waits to write the
    // probe-failure row), then let B commit another host's event meanwhile.
    const holder = new pg.Client({ connectionString: dbUrl });
    await holder.connect();
    try {
      await holder.query("begin");
      await holder.query("lock table probe_failures in share mode");
      const waiting = async (locktype: string) =>
        (
          await db.query<{ n: number }>(
            `select count(*)::int as n from pg_locks where not granted and locktype = $1
               and database = (select oid from pg_database where datname = current_database())`,
            [locktype],
          )
        ).rows[0]!.n > 0;
      const failing = post(a, pki, R, "h1", ev.probeResult(4, "http", "fail"));
      await waitFor("A's batch waits on probe_failures", 5000, () => waiting("relation"));
      let bDone = false;
      const fromB = post(b, pki, R, "h2", ev.dispatchAck(1)).finally(() => {
        bDone = true;
      });
      await waitFor(
        "B committed or waits its turn",
        5000,
        async () => bDone || waiting("advisory"),
      );
      await page();
      await holder.query("commit");
      await Promise.all([failing, fromB]);
    } finally {
      await holder.end();
    }
    await page();
    const all = await ops.listEvents({ rolloutId: R, limit: 100 });
    assert.equal(all.events.length, 5);
    assert.deepEqual(
      seen.map((e) => `${e.hostname}#${e.seq}@${e.id}`),
      all.events.map((e) => `${e.hostname}#${e.seq}@${e.id}`),
      "the follower saw every event once, in id order",
    );
  });

  test("shutting a replica down closes its LISTEN connection", async () => {
    const count = async () =>
      (
        await db.query<{ n: number }>(
          "select count(*)::int as n from pg_stat_activity where application_name = $1 and datname = current_database()",
          [LISTENER_APPLICATION_NAME],
        )
      ).rows[0]!.n;
    assert.equal(await count(), 2);
    await b.service.shutdown();
    await waitFor("B's LISTEN connection is gone", 5000, async () => (await count()) === 1);
  });
});
