// grpc.health.v1.Health over a real h2c server with connect-node clients (Check on every
// protocol, Watch and List over gRPC), plus the HealthState it reads.
import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, afterEach, before, describe, test } from "node:test";
import { Code, ConnectError, type ConnectRouter, createClient } from "@connectrpc/connect";
import {
  connectNodeAdapter,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health_pb.js";
import { createHealthState, type HealthState } from "../../src/server/health/health-state.js";
import { registerHealth } from "../../src/server/health/register-health.js";

let server: http2.Http2Server;
const sessions = new Set<http2.ServerHttp2Session>();
let baseUrl: string;
let state: HealthState;
// Server-side Watch streams that have not ended yet, to see aborts reach the handler.
let openWatches = 0;

before(async () => {
  // The server reads whichever state the current test installed.
  const tracked: HealthState = {
    get: (service) => state.get(service),
    set: (service, status) => state.set(service, status),
    entries: () => state.entries(),
    subscribe: (listener) => state.subscribe(listener),
    shutdown: () => state.shutdown(),
    async *watch(service, signal) {
      openWatches++;
      try {
        yield* state.watch(service, signal);
      } finally {
        openWatches--;
      }
    },
  };
  const routes = (router: ConnectRouter): void => registerHealth(router, tracked);
  server = http2.createServer(connectNodeAdapter({ routes }));
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  for (const session of sessions) session.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const grpcClient = () => createClient(Health, createGrpcTransport({ baseUrl }));

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(condition(), `timed out waiting for ${what}`);
}

describe("grpc.health.v1.Health/Check", () => {
  test("answers the state's status on Connect, gRPC and gRPC-Web", async () => {
    state = createHealthState();
    for (const transport of [
      createConnectTransport({ baseUrl, httpVersion: "2" }),
      createGrpcTransport({ baseUrl }),
      createGrpcWebTransport({ baseUrl, httpVersion: "2" }),
    ]) {
      const client = createClient(Health, transport);
      state.set("", ServingStatus.SERVING);
      assert.equal((await client.check({})).status, ServingStatus.SERVING);
      state.set("", ServingStatus.NOT_SERVING);
      assert.equal((await client.check({ service: "" })).status, ServingStatus.NOT_SERVING);
    }
  });

  test("per-service status and NOT_FOUND for an unknown service", async () => {
    state = createHealthState();
    state.set("nixfleet.ops.v1.RolloutService", ServingStatus.NOT_SERVING);
    const client = grpcClient();
    const rollout = await client.check({ service: "nixfleet.ops.v1.RolloutService" });
    assert.equal(rollout.status, ServingStatus.NOT_SERVING);
    await assert.rejects(
      client.check({ service: "nixfleet.nope.v1.Nope" }),
      (err) => ConnectError.from(err).code === Code.NotFound,
    );
  });

  test("shutdown turns every service NOT_SERVING and later sets are ignored", async () => {
    state = createHealthState();
    state.set("nixfleet.agent.v1.AgentEventsService", ServingStatus.SERVING);
    state.shutdown();
    state.set("", ServingStatus.SERVING);
    const client = grpcClient();
    assert.equal((await client.check({})).status, ServingStatus.NOT_SERVING);
    const agent = await client.check({ service: "nixfleet.agent.v1.AgentEventsService" });
    assert.equal(agent.status, ServingStatus.NOT_SERVING);
  });
});

describe("grpc.health.v1.Health/Watch", () => {
  afterEach(async () => {
    await until(() => openWatches === 0, "server-side watches to end");
  });

  test("sends the current status, then each change, and ends when the client aborts", async () => {
    state = createHealthState();
    const abort = new AbortController();
    const stream = grpcClient().watch({}, { signal: abort.signal })[Symbol.asyncIterator]();

    const first = await stream.next();
    assert.equal(first.value?.status, ServingStatus.SERVING);
    assert.equal(openWatches, 1);

    state.set("", ServingStatus.SERVING); // not a change: nothing is sent
    state.set("", ServingStatus.NOT_SERVING);
    const second = await stream.next();
    assert.equal(second.value?.status, ServingStatus.NOT_SERVING);

    abort.abort();
    await assert.rejects(stream.next(), (err) => ConnectError.from(err).code === Code.Canceled);
    await until(() => openWatches === 0, "the server to end the watch");
  });

  test("an unknown service is SERVICE_UNKNOWN until it gets a status", async () => {
    state = createHealthState();
    const abort = new AbortController();
    const stream = grpcClient()
      .watch({ service: "nixfleet.ops.v1.RolloutService" }, { signal: abort.signal })
      [Symbol.asyncIterator]();
    assert.equal((await stream.next()).value?.status, ServingStatus.SERVICE_UNKNOWN);
    state.set("", ServingStatus.NOT_SERVING); // another service: not sent
    state.set("nixfleet.ops.v1.RolloutService", ServingStatus.SERVING);
    assert.equal((await stream.next()).value?.status, ServingStatus.SERVING);
    abort.abort();
    await assert.rejects(stream.next());
  });

  test("ends when the server's handler signal aborts (server shutdown)", async () => {
    state = createHealthState();
    const shutdown = new AbortController();
    const local = http2.createServer(
      connectNodeAdapter({
        routes: (router) => registerHealth(router, state),
        shutdownSignal: shutdown.signal,
      }),
    );
    const localSessions: http2.ServerHttp2Session[] = [];
    local.on("session", (session) => localSessions.push(session));
    await new Promise<void>((resolve) => local.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(local.address() as AddressInfo).port}`;
    const transport = createGrpcTransport({ baseUrl: url });
    try {
      const received: ServingStatus[] = [];
      const watching = (async () => {
        for await (const response of createClient(Health, transport).watch({})) {
          received.push(response.status);
          if (received.length === 1) shutdown.abort();
        }
      })();
      await watching.catch(() => undefined);
      assert.deepEqual(received, [ServingStatus.SERVING]);
    } finally {
      for (const session of localSessions) session.destroy();
      await new Promise<void>((resolve) => local.close(() => resolve()));
    }
  });
});

describe("grpc.health.v1.Health/List", () => {
  test("lists every service with its status", async () => {
    state = createHealthState([
      ["", ServingStatus.SERVING],
      ["nixfleet.ops.v1.RolloutService", ServingStatus.NOT_SERVING],
    ]);
    const { statuses } = await grpcClient().list({});
    assert.deepEqual(
      Object.fromEntries(Object.entries(statuses).map(([name, r]) => [name, r.status])),
      { "": ServingStatus.SERVING, "nixfleet.ops.v1.RolloutService": ServingStatus.NOT_SERVING },
    );
  });
});

describe("createHealthState", () => {
  test("watch coalesces changes a slow reader missed and stops on abort", async () => {
    const health = createHealthState([["x", ServingStatus.NOT_SERVING]]);
    const abort = new AbortController();
    const watch = health.watch("x", abort.signal)[Symbol.asyncIterator]();
    assert.deepEqual(await watch.next(), { done: false, value: ServingStatus.NOT_SERVING });
    health.set("x", ServingStatus.SERVING);
    health.set("x", ServingStatus.UNKNOWN);
    health.set("x", ServingStatus.SERVING);
    assert.deepEqual(await watch.next(), { done: false, value: ServingStatus.SERVING });
    const pending = watch.next();
    abort.abort();
    assert.deepEqual(await pending, { done: true, value: undefined });
  });

  test("subscribe hears changes only, until unsubscribed", () => {
    const health = createHealthState();
    const heard: [string, ServingStatus][] = [];
    const unsubscribe = health.subscribe((service, status) => heard.push([service, status]));
    health.set("", ServingStatus.SERVING);
    health.set("", ServingStatus.NOT_SERVING);
    health.set("a", ServingStatus.SERVING);
    unsubscribe();
    health.set("a", ServingStatus.NOT_SERVING);
    assert.deepEqual(heard, [
      ["", ServingStatus.NOT_SERVING],
      ["a", ServingStatus.SERVING],
    ]);
    assert.equal(health.get("a"), ServingStatus.NOT_SERVING);
    assert.equal(health.get("b"), undefined);
  });
});
