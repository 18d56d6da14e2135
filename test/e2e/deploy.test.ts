// The deployment files: the systemd unit passes `systemd-analyze verify` and stops later than
// the service's own drain deadline; the NixOS module parses and passes every serve flag.
// The tool checks run where the tools are installed (.ci/run installs them).
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { parseServeConfig, SERVE_FLAGS } from "../../src/config/service-config.js";

const run = promisify(execFile);
const root = new URL("../../", import.meta.url).pathname;
const UNIT = join(root, "deploy/systemd/nixfleet-cp.service");
const MODULE = join(root, "deploy/nixos/module.nix");

function has(tool: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** The unit's [Service] settings (last one wins, as in systemd; lists concatenated). */
function serviceSettings(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) out.set(m[1] as string, [...(out.get(m[1] as string) ?? []), m[2] as string]);
  }
  return out;
}

test("the systemd unit is hardened, reloads with SIGHUP and outlasts the drain", () => {
  const settings = serviceSettings(readFileSync(UNIT, "utf8"));
  const one = (key: string) => settings.get(key)?.at(-1);
  for (const [key, value] of [
    ["User", "nixfleet-cp"],
    ["StateDirectory", "nixfleet-cp"],
    ["ProtectSystem", "strict"],
    ["NoNewPrivileges", "yes"],
    ["PrivateTmp", "yes"],
    ["ProtectHome", "yes"],
    ["SystemCallFilter", "@system-service"],
    ["CapabilityBoundingSet", ""],
    ["ExecReload", "/bin/kill -HUP $MAINPID"],
    ["KillSignal", "SIGTERM"],
  ]) {
    assert.equal(one(key as string), value, key);
  }
  assert.match(one("RestrictAddressFamilies") ?? "", /^AF_INET AF_INET6 AF_UNIX$/);
  // The environment lines are serve's own configuration: they must parse.
  const env = Object.fromEntries(
    (settings.get("Environment") ?? []).map((e) => e.split("=", 2) as [string, string]),
  );
  const config = parseServeConfig([], env);
  assert.equal(config.stateDir, "/var/lib/nixfleet-cp");
  assert.ok(config.healthListen !== undefined);
  // serve exits on its own at most 5 s after --shutdown-timeout; systemd must not kill first.
  const stopMs = Number(one("TimeoutStopSec")) * 1000;
  assert.ok(stopMs > config.shutdownTimeoutMs + 5000, `TimeoutStopSec ${stopMs} ms`);
});

test("systemd-analyze verify accepts the unit", { skip: !has("systemd-analyze") }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "nixfleet-unit-"));
  try {
    // verify insists that ExecStart exists: point it at a shim.
    const shim = join(dir, "nixfleet-cp");
    writeFileSync(shim, "#!/bin/sh\nexit 0\n");
    chmodSync(shim, 0o755);
    const unit = join(dir, "nixfleet-cp.service");
    writeFileSync(
      unit,
      readFileSync(UNIT, "utf8").replace("/opt/nixfleet-cp/bin/nixfleet-cp", shim),
    );
    const { stdout, stderr } = await run("systemd-analyze", ["verify", unit]);
    // verify exits 0 on settings it ignores, but it names them: any output is a finding.
    assert.equal(`${stdout}${stderr}`.trim(), "");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the NixOS module parses", { skip: !has("nix-instantiate") }, async () => {
  await run("nix-instantiate", ["--parse", MODULE]);
});

test("the NixOS module passes every serve flag", () => {
  const text = readFileSync(MODULE, "utf8");
  for (const flag of Object.keys(SERVE_FLAGS)) {
    if (flag.startsWith("debug-")) continue;
    assert.ok(text.includes(`"--${flag}"`), `--${flag} missing from module.nix`);
  }
  assert.match(text, /ExecReload = ".*kill -HUP \$MAINPID"/);
  assert.match(text, /TimeoutStopSec = cfg\.shutdownTimeout \/ 1000 \+ 20;/);
});
