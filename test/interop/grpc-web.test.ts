// gRPC-Web as a strict client reads it, over HTTP/1.1 and HTTP/2: a hand-written parser that
// accepts only well-formed answers (data envelopes, then exactly one trailer envelope; or
// Trailers-Only with an empty body) and decodes grpc-message by the spec's percent-encoding.
import assert from "node:assert/strict";
import { connect as http2Connect } from "node:http2";
import { request as httpsRequest } from "node:https";
import { after, before, describe, test } from "node:test";
import { gunzipSync } from "node:zlib";
import {
  cleanup,
  type Identity,
  makeTestPki,
  openTestRollout,
  startTestServer,
  type TestPki,
  type TestServer,
} from "../e2e/harness.js";
import { fillChannel, POST_EVENT, postEventFrame } from "./wire.js";

type Transport = "http/1.1" | "h2";
const TRANSPORTS: readonly Transport[] = ["http/1.1", "h2"];

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

interface GrpcWebAnswer {
  readonly code: number;
  readonly message: string;
  readonly fields: Record<string, string>;
  readonly messages: readonly Buffer[];
  readonly trailersOnly: boolean;
}

function call(
  transport: Transport,
  port: number,
  pki: TestPki,
  identity: Identity,
  body: Buffer,
  acceptGzip = false,
): Promise<RawResponse> {
  const headers = {
    "content-type": "application/grpc-web+proto",
    "x-grpc-web": "1",
    accept: "application/grpc-web+proto",
    ...(acceptGzip ? { "grpc-accept-encoding": "gzip" } : {}),
  };
  const tls = { ca: pki.ca, cert: identity.cert, key: identity.key, servername: "localhost" };
  return new Promise((resolve, reject) => {
    if (transport === "http/1.1") {
      const req = httpsRequest(
        {
          ...tls,
          host: "127.0.0.1",
          port,
          method: "POST",
          path: POST_EVENT,
          headers,
          // No ALPN offered: the server falls back to HTTP/1.1.
          agent: false,
        },
        (res) => {
          assert.equal(res.httpVersion, "1.1");
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            assert.equal(Object.keys(res.trailers).length, 0, "gRPC-Web sends no HTTP trailers");
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers as Record<string, string>,
              body: Buffer.concat(chunks),
            });
          });
        },
      );
      req.on("error", reject);
      req.end(body);
      return;
    }
    const session = http2Connect(`https://127.0.0.1:${port}`, tls);
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": POST_EVENT, ...headers });
    let status = 0;
    let responseHeaders: Record<string, string> = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      responseHeaders = h as Record<string, string>;
    });
    stream.on("trailers", () => reject(new Error("gRPC-Web sends no HTTP trailers")));
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      session.close();
      resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks) });
    });
    stream.on("error", reject);
    stream.end(body);
  });
}

/** Decodes grpc-message: printable ASCII on the wire, %XX for anything else and '%' only. */
function decodeGrpcMessage(value: string): string {
  assert.match(value, /^[\x20-\x7e]*$/, "grpc-message is printable ASCII");
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    if (value[i] !== "%") {
      bytes.push(value.charCodeAt(i));
      continue;
    }
    const hex = value.slice(i + 1, i + 3);
    assert.match(hex, /^[0-9A-Fa-f]{2}$/, `a bare '%' in ${JSON.stringify(value)}`);
    const byte = Number.parseInt(hex, 16);
    // The spec escapes only what it must; a needless escape shows as %XX in some clients.
    assert.ok(byte < 0x20 || byte > 0x7e || byte === 0x25, `needless %${hex} in ${value}`);
    bytes.push(byte);
    i += 2;
  }
  return new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(bytes));
}

/** Parses a gRPC-Web answer strictly; any deviation fails the test. */
function parseGrpcWeb(response: RawResponse): GrpcWebAnswer {
  assert.equal(response.status, 200, "gRPC-Web answers HTTP 200");
  assert.match(response.headers["content-type"] ?? "", /^application\/grpc-web(\+proto)?$/);
  const messages: Buffer[] = [];
  let trailer: Buffer | undefined;
  for (let at = 0; at < response.body.length; ) {
    assert.ok(trailer === undefined, "nothing may follow the trailer envelope");
    assert.ok(at + 5 <= response.body.length, "truncated envelope prefix");
    const flags = response.body[at] as number;
    const length = response.body.readUInt32BE(at + 1);
    assert.ok(at + 5 + length <= response.body.length, "truncated envelope");
    let data = response.body.subarray(at + 5, at + 5 + length);
    assert.ok([0x00, 0x01, 0x80, 0x81].includes(flags), `envelope flags 0x${flags.toString(16)}`);
    if (flags & 0x01) {
      assert.equal(response.headers["grpc-encoding"], "gzip", "compressed without grpc-encoding");
      data = gunzipSync(data);
    }
    if (flags & 0x80) trailer = data;
    else messages.push(data);
    at += 5 + length;
  }
  const trailersOnly = response.body.length === 0;
  const fields: Record<string, string> = {};
  if (trailersOnly) {
    for (const [k, v] of Object.entries(response.headers)) if (!k.startsWith(":")) fields[k] = v;
  } else {
    assert.ok(trailer !== undefined, "a body must end with a trailer envelope");
    assert.equal(response.headers["grpc-status"], undefined, "status in headers and trailer");
    const text = trailer.toString("latin1");
    assert.ok(text === "" || text.endsWith("\r\n"), "trailer lines end with CRLF");
    for (const line of text.split("\r\n").slice(0, -1)) {
      const m = /^([a-z0-9-]+): ?(.*)$/.exec(line);
      assert.ok(m, `malformed trailer line ${JSON.stringify(line)}`);
      fields[m[1] as string] = m[2] as string;
    }
  }
  const status = fields["grpc-status"];
  assert.match(status ?? "", /^(0|[1-9]|1[0-6])$/, "grpc-status");
  return {
    code: Number(status),
    message: decodeGrpcMessage(fields["grpc-message"] ?? ""),
    fields,
    messages,
    trailersOnly,
  };
}

describe("gRPC-Web through a strict parser", () => {
  let pki: TestPki;
  let server: TestServer;
  before(async () => {
    pki = await makeTestPki();
    server = await startTestServer(pki, [
      "--channel-capacity",
      "2",
      "--batch-size",
      "1",
      "--debug-reducer-delay-ms",
      "1500",
    ]);
    await openTestRollout(server, "web@01", ["h1", "h2", "h3", "h4", "web-02"]);
  });
  after(async () => {
    await server.service.shutdown();
    cleanup(pki);
  });

  test("OK: one message envelope, then a trailer envelope with grpc-status 0", async () => {
    const hosts = { "http/1.1": "h1", h2: "h2" } as const;
    const answers = await Promise.all(
      TRANSPORTS.map((t) =>
        call(
          t,
          server.service.port,
          pki,
          pki.agent(hosts[t]),
          postEventFrame(hosts[t], "web@01", 1),
        ),
      ),
    );
    for (const [i, response] of answers.entries()) {
      const answer = parseGrpcWeb(response);
      assert.equal(answer.code, 0, `${TRANSPORTS[i]}: ${answer.message}`);
      assert.equal(answer.messages.length, 1);
      assert.equal(answer.trailersOnly, false);
    }
  });

  test("INVALID_ARGUMENT: the message names the field and reads as written", async () => {
    const cases = [
      [
        "Stable@xyz",
        'rolloutId: must be "<channel>@<ref>" with channel [a-z0-9_-]+ and ref lowercase hex, got "Stable@xyz"',
      ],
      ["été@1%", 'got "été@1%"'],
    ] as const;
    for (const transport of TRANSPORTS) {
      for (const [rolloutId, expected] of cases) {
        const response = await call(
          transport,
          server.service.port,
          pki,
          pki.agent("h3"),
          postEventFrame("h3", rolloutId, 1),
        );
        const answer = parseGrpcWeb(response);
        assert.equal(answer.code, 3, `${transport}: ${answer.message}`);
        assert.ok(answer.message.includes(expected), `${transport}: ${answer.message}`);
      }
    }
  });

  test("a compressed trailer envelope (over 1 KiB, client accepts gzip) is re-encoded too", async () => {
    // Messages are bounded, but each 'é' takes six bytes on the wire: over 1 KiB in all.
    const rolloutId = `${"é".repeat(200)}@1`;
    for (const transport of TRANSPORTS) {
      const response = await call(
        transport,
        server.service.port,
        pki,
        pki.agent("h3"),
        postEventFrame("h3", rolloutId, 1),
        true,
      );
      const envelopeFlags = response.body[0];
      assert.equal(envelopeFlags, 0x81, "the trailer envelope is compressed");
      const answer = parseGrpcWeb(response);
      assert.equal(answer.code, 3, `${transport}: ${answer.message}`);
      assert.ok(answer.message.includes(`got "${rolloutId}"`), answer.message);
    }
  });

  test("shed: Trailers-Only with grpc-status 8, an empty body, retry-after and RetryInfo", async () => {
    await fillChannel(server, pki, "web@01", ["h3", "h4", "web-02"], 2);
    for (const transport of TRANSPORTS) {
      const response = await call(
        transport,
        server.service.port,
        pki,
        pki.agent("h1"),
        postEventFrame("h1", "web@01", 2),
      );
      const answer = parseGrpcWeb(response);
      assert.equal(answer.code, 8, `${transport}: ${answer.message}`);
      assert.equal(answer.trailersOnly, true);
      assert.equal(
        answer.message,
        "ingest queue is full; retry with the same seq after the hinted delay",
      );
      assert.equal(answer.fields["retry-after"], "1");
      assert.ok((answer.fields["grpc-status-details-bin"] ?? "").length > 0);
      if (transport === "http/1.1") assert.equal(response.headers["content-length"], "0");
    }
  });
});
