// Python grpcio (gRPC's C core) under overload: every answer is OK or RESOURCE_EXHAUSTED with
// retry-after and RetryInfo, never UNKNOWN "Stream removed". Needs a python3 with grpc
// (Debian's python3-grpcio, which .ci/run installs); without one the test says so and skips.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import {
  cleanup,
  makeTestPki,
  openTestRollout,
  startTestServer,
  type TestPki,
} from "../e2e/harness.js";
import { POST_EVENT, postEventMessage } from "./wire.js";

const script = new URL("./grpcio-client.py", import.meta.url).pathname;
const python = ["python3", "/usr/bin/python3"].find(
  (p) => spawnSync(p, ["-c", "import grpc"], { stdio: "ignore" }).status === 0,
);

interface Answer {
  readonly code: string;
  readonly details?: string;
  readonly retryAfter?: string | null;
  readonly statusDetailsBin?: boolean;
}

/** Sends the requests concurrently from Python grpcio and returns its answers in order. */
async function grpcio(port: number, pki: TestPki, host: string, requests: Buffer[]) {
  const agent = pki.pki.agents[host];
  assert.ok(agent && python);
  const { spawn } = await import("node:child_process");
  const child = spawn(python, [
    script,
    String(port),
    pki.pki.caPath,
    agent.certPath,
    agent.keyPath,
    POST_EVENT,
  ]);
  let out = "";
  let err = "";
  child.stdout.on("data", (c: Buffer) => {
    out += c;
  });
  child.stderr.on("data", (c: Buffer) => {
    err += c;
  });
  child.stdin.end(requests.map((r) => r.toString("hex")).join("\n"));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  assert.equal(code, 0, err);
  return out
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Answer);
}

describe("Python grpcio", {
  skip: python === undefined ? "no python3 with grpc (apt install python3-grpcio)" : false,
}, () => {
  test("a tiny channel: every answer OK or RESOURCE_EXHAUSTED with the hint, none UNKNOWN", async () => {
    const pki = await makeTestPki();
    const server = await startTestServer(pki, [
      "--channel-capacity",
      "2",
      "--batch-size",
      "1",
      "--debug-reducer-delay-ms",
      "100",
    ]);
    try {
      await openTestRollout(server, "py@01", ["h1"]);
      const port = server.service.port;
      const [first] = await grpcio(port, pki, "h1", [postEventMessage("h1", "py@01", 1)]);
      assert.equal(first?.code, "OK");
      const burst = Array.from({ length: 30 }, (_, i) => postEventMessage("h1", "py@01", 1000 + i));
      const answers = await grpcio(port, pki, "h1", burst);
      assert.equal(answers.length, 30);
      const shed = answers.filter((a) => a.code !== "OK");
      assert.ok(shed.length > 0, "nothing was shed");
      for (const a of shed) {
        assert.equal(a.code, "RESOURCE_EXHAUSTED", JSON.stringify(a));
        assert.equal(
          a.details,
          "ingest queue is full; retry with the same seq after the hinted delay",
        );
        assert.equal(a.retryAfter, "1");
        assert.equal(a.statusDetailsBin, true);
      }
      const invalid = await grpcio(port, pki, "h1", [postEventMessage("h1", "Stable@xyz", 1)]);
      assert.equal(invalid[0]?.code, "INVALID_ARGUMENT");
      assert.match(invalid[0]?.details ?? "", /^rolloutId: must be "<channel>@<ref>"/);
    } finally {
      await server.service.shutdown();
      cleanup(pki);
    }
  });
});
