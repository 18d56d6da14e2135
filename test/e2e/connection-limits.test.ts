// Issue 11 (c): per-peer and total bounds on the listener, each enforced and counted: total
// and per-certificate connections, the TLS handshake, idle sessions, slow request bodies, and
// response bytes buffered for a peer that does not read.
import assert from "node:assert/strict";
import { type ClientHttp2Session, connect as http2Connect } from "node:http2";
import { connect as netConnect } from "node:net";
import { after, before, describe, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import type { Identity } from "./harness.js";
import { cleanup, makeTestPki, startTestServer, type TestPki, type TestServer } from "./harness.js";

async function closedReasons(server: TestServer): Promise<Record<string, number>> {
  const metric = server.service.metrics.registry.getSingleMetric(
    "nixfleet_cp_connections_closed_total",
  );
  const out: Record<string, number> = {};
  for (const v of (await metric?.get())?.values ?? []) out[String(v.labels["reason"])] = v.value;
  return out;
}

function session(
  server: TestServer,
  pki: TestPki,
  identity: Identity,
  settings = {},
): ClientHttp2Session {
  const s = http2Connect(server.url, {
    ca: pki.ca,
    cert: identity.cert,
    key: identity.key,
    settings,
  });
  s.on("error", () => {});
  return s;
}

/** Resolves with the :status of GET /healthz on `s`, or "closed" when the session dies first. */
function healthz(s: ClientHttp2Session): Promise<number | "closed"> {
  return new Promise((resolve) => {
    try {
      const stream = s.request({ ":path": "/healthz" });
      stream.on("response", (h) => resolve(Number(h[":status"])));
      stream.on("error", () => resolve("closed"));
      stream.on("close", () => resolve("closed"));
      stream.resume();
      stream.end();
    } catch {
      resolve("closed");
    }
  });
}

const closedWithin = (s: ClientHttp2Session, ms: number) =>
  new Promise<boolean>((resolve) => {
    if (s.closed || s.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    s.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });

describe("connection limits", () => {
  let pki: TestPki;
  let server: TestServer;
  before(async () => {
    pki = await makeTestPki();
    server = await startTestServer(pki, [
      "--max-connections",
      "6",
      "--max-connections-per-peer",
      "2",
      "--tls-handshake-timeout",
      "300",
      "--idle-timeout",
      "400",
      "--request-timeout",
      "400",
      "--max-buffered-bytes-per-peer",
      "65536",
    ]);
  });
  after(async () => {
    await server.service.shutdown();
    cleanup(pki);
  });

  test("a third connection of one certificate is closed; another certificate still connects", async () => {
    const a = session(server, pki, pki.agent("h1"));
    const b = session(server, pki, pki.agent("h1"));
    assert.equal(await healthz(a), 200);
    assert.equal(await healthz(b), 200);
    const c = session(server, pki, pki.agent("h1"));
    assert.equal(await healthz(c), "closed");
    const other = session(server, pki, pki.agent("h2"));
    assert.equal(await healthz(other), 200);
    for (const s of [a, b, c, other]) s.destroy();
    assert.ok(((await closedReasons(server))["per_peer"] ?? 0) >= 1);
  });

  test("a TCP connection that never starts TLS is closed after --tls-handshake-timeout", async () => {
    const port = Number(new URL(server.url).port);
    const started = Date.now();
    await new Promise<void>((resolve) => {
      const socket = netConnect(port, "127.0.0.1");
      socket.on("error", () => {});
      socket.on("close", () => resolve());
    });
    assert.ok(Date.now() - started < 3000, `held ${Date.now() - started} ms`);
    assert.ok(((await closedReasons(server))["handshake_timeout"] ?? 0) >= 1);
  });

  test("connections beyond --max-connections are refused at accept", async () => {
    const sockets = await Promise.all(
      Array.from(
        { length: 8 },
        (_, i) =>
          new Promise<{ ok: boolean; close: () => void }>((resolve) => {
            const id = pki.agent(
              ["h1", "h2", "h3", "h4", "web-01", "web-02", "db-01", "h1"][i] as string,
            );
            const s = tlsConnect({
              host: "127.0.0.1",
              port: Number(new URL(server.url).port),
              ca: pki.ca,
              cert: id.cert,
              key: id.key,
              servername: "localhost",
              ALPNProtocols: ["h2"],
            });
            s.on("secureConnect", () => resolve({ ok: true, close: () => s.destroy() }));
            s.on("error", () => resolve({ ok: false, close: () => s.destroy() }));
            s.on("close", () => resolve({ ok: false, close: () => {} }));
          }),
      ),
    );
    const ok = sockets.filter((s) => s.ok).length;
    for (const s of sockets) s.close();
    assert.ok(ok <= 6, `${ok} connections held`);
    assert.ok(((await closedReasons(server))["total"] ?? 0) >= 1);
  });

  test("an HTTP/2 session with no request in flight is closed after --idle-timeout", async () => {
    const s = session(server, pki, pki.agent("h3"));
    assert.equal(await healthz(s), 200);
    assert.ok(await closedWithin(s, 3000), "idle session still open");
    assert.ok(((await closedReasons(server))["idle"] ?? 0) >= 1);
  });

  test("a request whose body never completes is reset after --request-timeout", async () => {
    const s = session(server, pki, pki.agent("h4"));
    const reset = await new Promise<boolean>((resolve) => {
      const stream = s.request({
        ":method": "POST",
        ":path": "/v1/agent/events",
        "content-type": "application/json",
      });
      stream.write('{"hostname":"h4",');
      const timer = setTimeout(() => resolve(false), 3000);
      stream.on("close", () => {
        clearTimeout(timer);
        resolve(true);
      });
      stream.on("error", () => {});
      stream.resume();
    });
    s.destroy();
    assert.ok(reset, "slow body still held");
    assert.ok(((await closedReasons(server))["request_timeout"] ?? 0) >= 1);
  });

  test("a peer that does not read loses its session beyond --max-buffered-bytes-per-peer", async () => {
    // An operator asks reflection for descriptor sets on many streams with a zero window.
    const s = session(server, pki, pki.operator, { initialWindowSize: 0 });
    const request = Buffer.from([0x22, 30, ...Buffer.from("nixfleet.ops.v1.RolloutService")]);
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, request.length]), request]);
    for (let i = 0; i < 40; i++) {
      const stream = s.request({
        ":method": "POST",
        ":path": "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "content-type": "application/grpc",
        te: "trailers",
      });
      stream.on("error", () => {});
      stream.end(framed);
    }
    assert.ok(await closedWithin(s, 5000), "the non-reading session is still open");
    assert.ok(((await closedReasons(server))["buffer_limit"] ?? 0) >= 1);
  });
  test("a peer that reads nothing of its pending answer for --request-timeout loses its session", async () => {
    // One small unary answer toward a zero window; the request itself was read whole, so
    // --request-timeout's timer for it is over.
    const s = session(server, pki, pki.operator, { initialWindowSize: 0 });
    const stream = s.request({
      ":method": "POST",
      ":path": "/nixfleet.ops.v1.RolloutService/ListEvents",
      "content-type": "application/json",
    });
    stream.on("error", () => {});
    stream.end(JSON.stringify({ rolloutId: "stalled@01" }));
    assert.ok(await closedWithin(s, 5000), "the stalled session is still open");
    assert.ok(
      ((await closedReasons(server))["stalled"] ?? 0) >= 1,
      JSON.stringify(await closedReasons(server)),
    );
  });
});

describe("streams in flight", () => {
  let pki: TestPki;
  let server: TestServer;
  before(async () => {
    pki = await makeTestPki();
    server = await startTestServer(pki, [
      "--max-streams",
      "16",
      "--max-streams-per-connection",
      "4",
    ]);
  });
  after(async () => {
    await server.service.shutdown();
    cleanup(pki);
  });

  async function inFlight(): Promise<number> {
    const metric = server.service.metrics.registry.getSingleMetric("nixfleet_cp_streams_in_flight");
    return (await metric?.get())?.values[0]?.value ?? Number.NaN;
  }

  test("20 never-reading connections get streams refused beyond --max-streams; another client still gets through", async () => {
    const attackers = ["web-01", "web-02", "db-01", "h1"].map((h) => pki.agent(h));
    const sessions: ClientHttp2Session[] = [];
    let refused = 0;
    for (let c = 0; c < 20; c++) {
      // Sends all 8 streams whatever the server's SETTINGS say, as a hostile client would.
      const s = session(server, pki, attackers[c % 4] as Identity, { initialWindowSize: 0 });
      sessions.push(s);
      for (let i = 0; i < 8; i++) {
        // A body that never ends keeps the stream in flight.
        const stream = s.request({
          ":method": "POST",
          ":path": "/v1/agent/events",
          "content-type": "application/json",
        });
        stream.on("error", () => {});
        stream.on("close", () => {
          if (stream.rstCode === 7) refused++; // REFUSED_STREAM
        });
        stream.write('{"hostname":');
      }
    }
    const deadline = Date.now() + 10_000;
    const counted = async () => ((await closedReasons(server))["streams"] ?? 0) >= 1;
    while ((!(await counted()) || refused === 0) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    assert.ok(((await closedReasons(server))["streams"] ?? 0) >= 1, "no stream refused");
    // Connections holding 2 or more get nothing beyond the total; one holding none still does.
    assert.ok((await inFlight()) <= 16 + 2 * 20, `${await inFlight()} streams in flight`);
    const legitimate = session(server, pki, pki.agent("h4"));
    assert.equal(await healthz(legitimate), 200);
    assert.ok(refused >= 1, "the attacker saw no REFUSED_STREAM");
    for (const s of [...sessions, legitimate]) s.destroy();
  });
});
