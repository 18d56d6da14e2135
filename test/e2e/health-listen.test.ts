// --health-listen: plain HTTP /healthz and /readyz for load balancers, without a client
// certificate; /metrics is not there. Checked with the real curl binary.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";
import { cleanup, makeTestPki, startTestServer } from "./harness.js";

const run = promisify(execFile);

async function curl(url: string): Promise<{ status: number; body: string }> {
  const { stdout } = await run("curl", ["-sS", "-w", "\n%{http_code}", url]);
  const at = stdout.lastIndexOf("\n");
  return { status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) };
}

test("curl gets /healthz and /readyz on --health-listen without a certificate; /metrics is 404", async () => {
  const pki = await makeTestPki();
  const server = await startTestServer(pki, ["--health-listen", "127.0.0.1:0"]);
  try {
    const port = server.service.healthPort;
    assert.ok(port !== undefined && port > 0);
    const base = `http://127.0.0.1:${port}`;
    assert.deepEqual(await curl(`${base}/readyz`), { status: 200, body: "ready\n" });
    assert.deepEqual(await curl(`${base}/healthz`), { status: 200, body: "ok\n" });
    assert.equal((await curl(`${base}/metrics`)).status, 404);
    assert.equal((await curl(`${base}/v1/agent/events`)).status, 404);
  } finally {
    await server.service.shutdown();
    cleanup(pki);
  }
});
