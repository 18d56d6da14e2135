// Runs every command block of the README, in order, as written, against a real `nixfleet-cp dev`
// server (what `npm start` runs), so what a new user copies keeps working. A block is skipped
// only when the README says why next to it; a block the test does not know fails it.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { cleanEnv } from "./cli-harness.js";
import { type SpawnedServer, spawnServer } from "./harness.js";

const root = new URL("../..", import.meta.url).pathname;

/** One fenced shell block of the README and the marker before it. */
interface Block {
  readonly line: number;
  /** The marker's name, or undefined when the block has no marker. */
  readonly name: string | undefined;
  /** Why the block is not run (marker `readme-test: skip, because ...`). */
  readonly skip: string | undefined;
  readonly script: string;
}

const SHELL_FENCE = /^```(sh|bash|shell|console)?\s*$/;

/** Every fenced block that holds commands (```sh, ```bash, ``` with no language...). */
export function readmeBlocks(text: string): Block[] {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = lines[i] as string;
    if (!fence.startsWith("```")) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith("```"));
    assert.ok(end > i, `README line ${i + 1}: unclosed code block`);
    if (SHELL_FENCE.test(fence)) {
      const marker = /^<!-- readme-test: (.+?) -->$/.exec(lines[i - 1] ?? "")?.[1];
      const skip = /^skip, because (.+)$/.exec(marker ?? "")?.[1];
      blocks.push({
        line: i + 1,
        name: skip === undefined ? marker : "skip",
        skip,
        script: lines.slice(i + 1, end).join("\n"),
      });
    }
    i = end;
  }
  return blocks;
}

/** What each block must print; `until` marks one that runs until Ctrl-C. */
const EXPECTED: Record<string, { readonly output: readonly RegExp[]; readonly until?: RegExp }> = {
  agent: {
    output: [/^204$/m, /"outcome": "OUTCOME_APPLIED"/, /"state": "HOST_STATE_ACTIVATING"/],
  },
  batch: {
    output: [
      /^\{"verdicts":\[\{"status":204,"outcome":"applied"\},\{"status":204,"outcome":"applied"\}\]\}$/m,
      /"outcome": "OUTCOME_DUPLICATE"[\s\S]*"outcome": "OUTCOME_APPLIED"/,
    ],
  },
  operator: {
    output: [
      /nixfleet\.ops\.v1\.RolloutService/,
      /"status": "SERVING"/,
      /"created": true/,
      /"hostname": "web-01"/,
      /"kind": "ActivationStarted"/,
      /^ok\nready$/m,
      /nixfleet_cp_events_total\{kind="DispatchAck",outcome="applied"\} 1/,
      /^nixfleet_cp_build_info\{version="[^"]+"\} 1$/m,
    ],
  },
  heartbeat: {
    output: [
      /^HTTP\/2 200/m,
      /"received_at":"2026-05-16T01:40:00Z"/,
      /"bootstrap_rollouts":\[\{/,
      /\{"rolloutId":"stable@3f2a9c1e","hostname":"web-02","channel":"stable","state":"Pending"/,
      /"hostname": "web-02"/,
      /"reachable": true/,
      /^web-02\s+yes\s+2026-05-16T01:40:00Z/m,
    ],
  },
  refusals: {
    output: [
      /"outcome":"refused","code":"failed_precondition","reason":"illegal_for_state"/,
      /^202$/m,
      /"reason": "illegal_for_state"/,
      /"kind": "ActivationStarted"/,
      /"status": "ROLLOUT_STATUS_IN_PROGRESS"/,
    ],
  },
  "watch-rpc": {
    output: [/"hostname": "web-01"/, /"snapshotComplete"/],
    until: /"snapshotComplete"/,
  },
  cli: {
    output: [
      /^nixfleet-cp \d+\.\d+\.\d+/m,
      /^dev PKI in \S+: 0 written, \d+ kept$/m,
      /up to date, no migration applied/,
      /^created rollout stable@4b5c6d7e: 2 hosts/m,
      /^created rollout edge@5e6f7a8b: 2 hosts/m,
      /^web-01\s+Activating\s/m,
      /^3 hosts: /m,
      /^2\s+\S+\s+web-01\s+2\s+ActivationStarted/m,
      /^\d+ hosts?, 0 unreachable \(heartbeat interval 60s/m,
    ],
  },
  "views-cli": {
    output: [
      /^stable@3f2a9c1e\s+in-progress\s/m,
      /^stable@4b5c6d7e\s+in-progress\s/m,
      /^ID\s+LAST REFUSED\s+COUNT\s+HOST/m,
      /\s1\s+web-02\s+stable@3f2a9c1e\s+1\s+ActivationStarted\s+illegal_for_state\s/,
      /^no quarantined closures match$/m,
      /^no probe failures match$/m,
      /^0 signed events checked, 0 failed$/m,
    ],
  },
  "watch-cli": {
    output: [/^HOST\s+STATE\s+SINCE/m, /^web-01\s+Activating/m],
    until: /watching stable@3f2a9c1e/,
  },
};

describe("README command blocks", () => {
  const blocks = readmeBlocks(readFileSync(join(root, "README.md"), "utf8"));
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
    server?.child.kill("SIGTERM");
    await server?.exited;
    rmSync(state, { recursive: true, force: true });
  });

  test("every command block is run or says why not, and every run one is checked", () => {
    for (const b of blocks) {
      assert.ok(b.name !== undefined, `README line ${b.line}: a command block with no marker`);
      if (b.skip === undefined) {
        assert.ok(EXPECTED[b.name], `README line ${b.line}: block "${b.name}" has no expectation`);
      }
    }
    const names = blocks.map((b) => b.name);
    for (const name of Object.keys(EXPECTED)) assert.ok(names.includes(name), `no block ${name}`);
    assert.ok(blocks.length >= 6, `only ${blocks.length} blocks found`);
  });

  /**
   * The block as a user would run it from the repository root with `npm start` running: the
   * state dir and port of this test's server stand in for `.state` and 8443.
   */
  function runBlock(script: string, until: RegExp | undefined): Promise<string> {
    const text = script
      .replaceAll(".state/", `${state}/`)
      .replaceAll("https://localhost:8443", `https://localhost:${server.port}`);
    const env = {
      ...cleanEnv(),
      NIXFLEET_CP_STATE_DIR: state,
      NIXFLEET_CP_SERVER: `https://localhost:${server.port}`,
    };
    // Its own process group, so that stopping a long-running block reaches npx's children.
    const child = spawn("bash", ["-euo", "pipefail", "-c", text], {
      cwd: root,
      env,
      detached: true,
    });
    let output = "";
    child.stdout.on("data", (c: Buffer) => {
      output += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      output += c.toString();
    });
    const stopGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-(child.pid as number), signal);
      } catch {
        // already gone
      }
    };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        stopGroup("SIGKILL");
        reject(new Error(`timed out; output so far:\n${output}`));
      }, 180_000);
      let stopped = false;
      if (until !== undefined) {
        const check = () => {
          if (!stopped && until.test(output)) {
            stopped = true;
            stopGroup("SIGINT"); // Ctrl-C
            setTimeout(() => stopGroup("SIGKILL"), 5000).unref();
          }
        };
        child.stdout.on("data", check);
        child.stderr.on("data", check);
      }
      child.on("close", (code) => {
        clearTimeout(timer);
        if (code === 0 || stopped) resolve(output);
        else reject(new Error(`exit ${code}; output:\n${output}`));
      });
    });
  }

  test("a block fails when any of its commands fails, and an unmarked block is found", async () => {
    await assert.rejects(
      runBlock("true\nnpx nixfleet-cp rollout status stable@ffff\necho after", undefined),
      (error: Error) => {
        assert.match(error.message, /^exit 1;/);
        assert.match(error.message, /no rollout "stable@ffff"/);
        assert.doesNotMatch(error.message, /after/);
        return true;
      },
    );
    const unmarked = readmeBlocks("text\n\n```sh\necho hi\n```\n\n```json\n{}\n```\n");
    assert.deepEqual(unmarked, [{ line: 3, name: undefined, skip: undefined, script: "echo hi" }]);
  });

  for (const block of blocks) {
    const title = `README line ${block.line}: ${block.name ?? "unmarked"}`;
    if (block.skip !== undefined) {
      test(title, { skip: block.skip }, () => {});
      continue;
    }
    test(title, async () => {
      const expected = EXPECTED[block.name ?? ""];
      assert.ok(expected, "no expectation for this block");
      const output = await runBlock(block.script, expected.until);
      for (const re of expected.output) assert.match(output, re);
    });
  }
});
