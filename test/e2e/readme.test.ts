// Runs the README's command blocks marked `readme-test` against a real `nixfleet-cp dev`
// server, so what a new user copies keeps working.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { type SpawnedServer, spawnServer } from "./harness.js";

const run = promisify(execFile);
const root = new URL("../..", import.meta.url).pathname;

/** The fenced block after `<!-- readme-test: NAME -->`. */
function readmeBlock(name: string): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const m = new RegExp(`<!-- readme-test: ${name} -->\\n\`\`\`sh\\n([\\s\\S]*?)\`\`\``).exec(
    readme,
  );
  assert.ok(m, `README has no readme-test block "${name}"`);
  return m[1] as string;
}

describe("README commands", () => {
  let state: string;
  let server: SpawnedServer;
  before(async () => {
    state = mkdtempSync(join(tmpdir(), "nixfleet-readme-"));
    server = await spawnServer({
      command: "dev",
      flags: ["--listen", "127.0.0.1:0", "--state-dir", state],
    });
  });
  after(async () => {
    server.child.kill("SIGTERM");
    await server.exited;
    rmSync(state, { recursive: true, force: true });
  });

  /** The block as a user would run it, pointed at this test's state dir and port. */
  async function runBlock(name: string): Promise<string> {
    const script = readmeBlock(name)
      .replaceAll(".state/", `${state}/`)
      .replaceAll("https://localhost:8443", `https://localhost:${server.port}`);
    const { stdout } = await run("bash", ["-euo", "pipefail", "-c", script], {
      cwd: root,
      timeout: 120_000,
    });
    return stdout;
  }

  test("the agent block: curl answers 204, buf curl --schema proto answers APPLIED", async () => {
    const out = await runBlock("agent");
    assert.match(out, /^204$/m);
    assert.match(out, /"outcome": "OUTCOME_APPLIED"/);
    assert.match(out, /"state": "HOST_STATE_ACTIVATING"/);
  });

  test("the operator block: services, health, open, record, log and metrics", async () => {
    const out = await runBlock("operator");
    assert.match(out, /nixfleet\.ops\.v1\.RolloutService/);
    assert.match(out, /"status": "SERVING"/);
    assert.match(out, /"created": true/);
    assert.match(out, /"hostname": "web-01"/);
    assert.match(out, /"kind": "ActivationStarted"/);
    assert.match(out, /nixfleet_cp_events_total\{kind="DispatchAck",outcome="applied"\} 1/);
  });
});
