// The door-level shed on the wire: while the ingest channel is full, a gRPC (and gRPC-Web)
// PostEvent over HTTP/2 is answered Trailers-Only, i.e. ONE HEADERS frame carrying END_STREAM
// and END_HEADERS with grpc-status 8, and no DATA frame on that stream. Written and parsed
// frame by frame, since every HTTP/2 client library would hide the difference.
import assert from "node:assert/strict";
import { constants, connect as http2Connect } from "node:http2";
import { after, before, describe, test } from "node:test";
import {
  cleanup,
  makeTestPki,
  openTestRollout,
  startTestServer,
  type TestPki,
  type TestServer,
} from "../e2e/harness.js";
import { FLAG, FRAME, type Frame, describe as frameText, openRawH2, type RawH2 } from "./raw-h2.js";
import { fillChannel, POST_EVENT, postEventFrame } from "./wire.js";

function requestHeaders(port: number, path: string, contentType: string): [string, string][] {
  return [
    [":method", "POST"],
    [":scheme", "https"],
    [":path", path],
    [":authority", `localhost:${port}`],
    ["content-type", contentType],
    ["te", "trailers"],
  ];
}

const onStream = (frames: readonly Frame[], id: number) => frames.filter((f) => f.streamId === id);
const ended = (frames: readonly Frame[], id: number) =>
  onStream(frames, id).some(
    (f) =>
      f.type === FRAME.RST_STREAM ||
      ((f.type === FRAME.HEADERS || f.type === FRAME.DATA) && (f.flags & FLAG.END_STREAM) !== 0),
  );

describe("HTTP/2 frames of gRPC answers", () => {
  let pki: TestPki;
  let server: TestServer;
  let raw: RawH2;
  before(async () => {
    pki = await makeTestPki();
    server = await startTestServer(pki, [
      "--channel-capacity",
      "1",
      "--batch-size",
      "1",
      "--debug-reducer-delay-ms",
      "4000",
    ]);
    await openTestRollout(server, "frames@01", ["h1", "h2"]);
    raw = await openRawH2(server.service.port, pki.ca, pki.agent("h1"));
  });
  after(async () => {
    raw.close();
    await server.service.shutdown();
    cleanup(pki);
  });

  test("the shed answer is exactly one HEADERS frame with END_STREAM, gRPC and gRPC-Web", async () => {
    // One event in the (slowed) reducer and one waiting fill the channel of one.
    await fillChannel(server, pki, "frames@01", ["h1", "h2"], 1);
    const port = server.service.port;
    const body = postEventFrame("h1", "frames@01", 7);
    raw.request(1, requestHeaders(port, POST_EVENT, "application/grpc"), body);
    raw.request(3, requestHeaders(port, POST_EVENT, "application/grpc-web+proto"), body);
    await raw.until((frames) => ended(frames, 1) && ended(frames, 3));
    // Let anything the server might still send on these streams arrive.
    await new Promise((r) => setTimeout(r, 200));

    for (const id of [1, 3]) {
      const frames = onStream(raw.frames, id);
      assert.deepEqual(
        frames.map(frameText),
        [frames[0] && frameText(frames[0])],
        `stream ${id}: ${frames.map(frameText).join("; ")}`,
      );
      const [headers] = frames as [Frame];
      assert.equal(headers.type, FRAME.HEADERS);
      assert.equal(headers.flags & FLAG.END_STREAM, FLAG.END_STREAM, "END_STREAM");
      assert.equal(headers.flags & FLAG.END_HEADERS, FLAG.END_HEADERS, "END_HEADERS");
      const fields = raw.decodeHeaders(headers);
      assert.deepEqual(fields[0], { name: ":status", value: "200" });
      // The name may be Huffman-coded (undefined here); "8" is too short to be.
      assert.ok(
        fields.some((f) => (f.name === "grpc-status" || f.name === undefined) && f.value === "8"),
        JSON.stringify(fields),
      );
    }
  });

  test("node's HTTP/2 client reads the same answer: status, readable message, RetryInfo, one HEADERS", async () => {
    const session = http2Connect(server.url, {
      ca: pki.ca,
      cert: pki.agent("h1").cert,
      key: pki.agent("h1").key,
    });
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": POST_EVENT,
        "content-type": "application/grpc",
        te: "trailers",
      });
      const answer = await new Promise<{ headers: Record<string, unknown>; flags: number }>(
        (resolve, reject) => {
          stream.on("response", (headers, flags) => resolve({ headers, flags }));
          stream.on("error", reject);
          stream.end(postEventFrame("h1", "frames@01", 8));
        },
      );
      assert.equal(
        answer.flags & constants.NGHTTP2_FLAG_END_STREAM,
        constants.NGHTTP2_FLAG_END_STREAM,
      );
      assert.equal(answer.headers[":status"], 200);
      assert.equal(answer.headers["content-type"], "application/grpc");
      assert.equal(answer.headers["grpc-status"], "8");
      assert.equal(
        answer.headers["grpc-message"],
        "ingest queue is full; retry with the same seq after the hinted delay",
      );
      assert.equal(answer.headers["retry-after"], "1");
      assert.ok(String(answer.headers["grpc-status-details-bin"] ?? "").length > 0);
    } finally {
      session.close();
    }
  });

  test("answers of the Connect adapter: UNIMPLEMENTED is one HEADERS frame; an error never ends in DATA", async () => {
    const port = server.service.port;
    raw.request(
      5,
      requestHeaders(port, "/nixfleet.agent.v1.AgentEventsService/Nope", "application/grpc"),
      Buffer.alloc(5),
    );
    // An agent calling the operator service: refused by the auth interceptor inside Connect.
    raw.request(
      7,
      requestHeaders(port, "/nixfleet.ops.v1.RolloutService/GetHostRollout", "application/grpc"),
      Buffer.alloc(5),
    );
    await raw.until((frames) => ended(frames, 5) && ended(frames, 7));
    await new Promise((r) => setTimeout(r, 200));

    const unimplemented = onStream(raw.frames, 5);
    assert.equal(unimplemented.length, 1, unimplemented.map(frameText).join("; "));
    assert.equal(unimplemented[0]?.type, FRAME.HEADERS);
    assert.equal((unimplemented[0]?.flags ?? 0) & FLAG.END_STREAM, FLAG.END_STREAM);
    assert.ok(
      raw.decodeHeaders(unimplemented[0] as Frame).some((f) => f.value === "12"),
      "grpc-status 12",
    );

    const denied = onStream(raw.frames, 7);
    const text = denied.map(frameText).join("; ");
    const last = denied.at(-1) as Frame;
    assert.equal(last.type, FRAME.HEADERS, text);
    assert.equal(last.flags & FLAG.END_STREAM, FLAG.END_STREAM, text);
    assert.ok(
      !denied.some((f) => f.type === FRAME.DATA && (f.flags & FLAG.END_STREAM) !== 0),
      text,
    );
    assert.ok(!denied.some((f) => f.type === FRAME.RST_STREAM), text);
    assert.ok(
      raw.decodeHeaders(last).some((f) => f.value === "7"),
      "grpc-status 7 in the trailers",
    );
  });
});
