// `npm run bench:ui [-- --hosts N --screenshot PATH]`: the status page in Debian's Chromium
// against one rollout of N hosts (default 10,000): first meaningful render (navigation to the
// painted grid after WatchRollout's snapshot) and live update (an agent's event committed to
// the change painted in the page). Markdown to stdout; see BENCHMARKS.md.
import { execSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { HealthFailurePolicy } from "../gen/nixfleet/agent/v1/events_pb.js";
import { RolloutService } from "../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { issueLeafCertificate } from "../src/pki/issue-leaf-certificate.js";
import { launchChromium, operatorContext, waitForText } from "../test/e2e/browser.js";
import {
  cleanup,
  client,
  type Identity,
  makeTestPki,
  postBinding,
  SUFFIX,
  spawnFlags,
  spawnServer,
} from "../test/e2e/harness.js";

const { values } = parseArgs({
  options: {
    hosts: { type: "string", default: "10000" },
    screenshot: { type: "string" },
    runs: { type: "string", default: "5" },
    updates: { type: "string", default: "20" },
  },
});
const HOSTS = Number(values.hosts);
const RUNS = Number(values.runs);
const UPDATES = Number(values.updates);
const ROLLOUT = "bench@0ffe";
// Hosts that get a certificate and events: the live-update probes plus a spread of states.
const ACTIVE = Math.min(HOSTS, 600);

const hostname = (i: number) => `host-${String(i).padStart(5, "0")}`;
const at = (s: number) => new Date(Date.now() + s * 1000).toISOString();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const log = (line: string) => process.stderr.write(`${line}\n`);
const TICK_MS = 1000 / Number(execSync("getconf CLK_TCK", { encoding: "utf8" }));
/** CPU time (user + system) a process has used so far, from /proc (Linux). */
const cpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
};

const pki = await makeTestPki();
// Its own process, as in production: Playwright's client-certificate proxy runs in this one.
const server = await spawnServer({ flags: spawnFlags(pki) });
const browser = await launchChromium();
try {
  const names = Array.from({ length: HOSTS }, (_, i) => hostname(i + 1));
  await client(RolloutService, server.url, pki.ca, pki.operator).openRollout({
    rolloutId: ROLLOUT,
    onHealthFailure: HealthFailurePolicy.ROLLBACK_AND_HALT,
    soakDuration: { seconds: 0n },
    hosts: names.map((h) => ({ hostname: h, targetClosure: `def456-nixos-system-${h}` })),
  });
  log(`opened ${ROLLOUT} with ${HOSTS} hosts; issuing ${ACTIVE} agent certificates`);
  const ca = {
    certPem: readFileSync(pki.pki.caPath, "utf8"),
    keyPem: readFileSync(pki.pki.caKeyPath, "utf8"),
  };
  const agents: Identity[] = [];
  for (let i = 0; i < ACTIVE; i++) {
    const c = await issueLeafCertificate(ca, {
      commonName: `agent-${names[i]}.${SUFFIX}`,
      role: "client",
    });
    agents.push({ cert: c.certPem, key: c.keyPem });
  }
  const post = async (i: number, event: Record<string, unknown>) => {
    const r = await postBinding(server.url, pki.ca, agents[i] as Identity, {
      hostname: names[i],
      rolloutId: ROLLOUT,
      event,
    });
    if (r.status !== 204) throw new Error(`${names[i]}: ${r.status} ${r.body}`);
  };
  // A spread of states, so the grid looks like a rollout under way (the first UPDATES hosts
  // stay Pending for the live-update measurement).
  const story = async (i: number) => {
    const kind = i % 10;
    await post(i, {
      kind: "DispatchAck",
      currentClosureAtDispatch: `prev-${names[i]}`,
      receivedAt: at(1),
      seq: 1,
    });
    if (kind === 0) return;
    if (kind === 1)
      return post(i, {
        kind: "ActivationDeferred",
        component: "kernel",
        deferredAt: at(2),
        seq: 2,
      });
    if (kind === 2) {
      await post(i, {
        kind: "ActivationFailed",
        exitCode: 1,
        stderrTail: "switch failed",
        failedAt: at(2),
        seq: 2,
      });
      if (i % 20 === 2)
        await post(i, {
          kind: "RollbackComplete",
          revertedToClosure: `prev-${names[i]}`,
          exitCode: 0,
          completedAt: at(3),
          seq: 3,
        });
      return;
    }
    await post(i, {
      kind: "ActivationCompleted",
      observedCurrentClosure: `def456-nixos-system-${names[i]}`,
      exitCode: 0,
      completedAt: at(2),
      seq: 2,
    });
    if (kind < 6) return;
    await post(i, {
      kind: "Converged",
      currentClosure: `def456-nixos-system-${names[i]}`,
      convergedAt: at(3),
      seq: 3,
    });
  };
  for (let i = UPDATES; i < ACTIVE; i += 25) {
    await Promise.all(Array.from({ length: Math.min(25, ACTIVE - i) }, (_, k) => story(i + k)));
  }

  const context = await operatorContext(
    browser,
    server.url,
    pki.pki.operators["admin"]?.p12Path as string,
    { width: 1440, height: 900 },
  );
  const page = await context.newPage();
  const url = `${server.url}/ui/#/rollout/${encodeURIComponent(ROLLOUT)}`;
  // The first load also builds the bundle in the server (once per process): not measured.
  await page.goto(url);
  await page.waitForSelector('[data-snapshot="complete"]', { timeout: 60_000 });

  const renders: number[] = [];
  const phases = { script: [] as number[], first: [] as number[], complete: [] as number[] };
  const serverCpu: number[] = [];
  const pageCpu: number[] = [];
  const proxyCpu: number[] = [];
  const cdp = await context.newCDPSession(page);
  await cdp.send("Performance.enable");
  // The renderer main thread's busy time (s), cumulative per renderer process.
  const taskSeconds = async () =>
    (await cdp.send("Performance.getMetrics")).metrics.find((m) => m.name === "TaskDuration")
      ?.value ?? Number.NaN;
  for (let run = 0; run < RUNS; run++) {
    await page.goto("about:blank");
    const cpu0 = cpuMs(server.child.pid as number);
    const task0 = await taskSeconds();
    const own0 = process.cpuUsage();
    await page.goto(url);
    await page.waitForSelector('[data-snapshot="complete"]', { timeout: 60_000 });
    serverCpu.push(cpuMs(server.child.pid as number) - cpu0);
    const own = process.cpuUsage(own0);
    proxyCpu.push((own.user + own.system) / 1000);
    const task1 = await taskSeconds();
    // A navigation may start a fresh renderer whose count starts at zero.
    pageCpu.push(1000 * (task1 >= task0 ? task1 - task0 : task1));
    // A string, not a function: tsx would wrap a function's inner helpers in its own __name.
    const [ms, first, complete, script] = (await page.evaluate(`(() => {
      const mark = (name) => performance.getEntriesByName(name)[0]?.startTime ?? Number.NaN;
      const js = performance.getEntriesByType("resource").find((e) => e.name.endsWith("/app.js"));
      return [
        mark("nixfleet:first-render"),
        mark("nixfleet:snapshot-first"),
        mark("nixfleet:snapshot-complete"),
        js?.responseEnd ?? Number.NaN,
      ];
    })()`)) as [number, number, number, number];
    phases.script.push(script);
    phases.first.push(first);
    phases.complete.push(complete);
    const drawn = await page.getAttribute("canvas.grid-canvas", "data-rendered");
    if (Number(drawn) !== HOSTS) throw new Error(`grid drew ${drawn} hosts, expected ${HOSTS}`);
    renders.push(ms);
    log(`first render ${run + 1}/${RUNS}: ${ms.toFixed(0)} ms (server CPU ${serverCpu.at(-1)} ms)`);
  }

  const updates: number[] = [];
  const activating = '[data-state-count="Activating"]';
  for (let i = 0; i < UPDATES; i++) {
    const before = Number(await page.locator(activating).textContent());
    const t0 = performance.now();
    await post(i, {
      kind: "DispatchAck",
      currentClosureAtDispatch: `prev-${names[i]}`,
      receivedAt: at(1),
      seq: 1,
    });
    await waitForText(page, activating, String(before + 1));
    updates.push(performance.now() - t0);
  }
  log(`live updates: ${updates.map((u) => u.toFixed(0)).join(" ")} ms`);

  if (values.screenshot !== undefined) {
    await page.goto(`${url}/host/${names[UPDATES + 3]}`);
    await page.waitForSelector('[data-snapshot="complete"]');
    await page.waitForSelector(".timeline tr");
    await page.screenshot({ path: values.screenshot });
    log(`screenshot: ${values.screenshot}`);
  }

  const ms = (x: number) => `${x.toFixed(0)} ms`;
  process.stdout.write(
    [
      `## status page, ${HOSTS} hosts in one rollout (Chromium ${browser.version()}, headless)`,
      "",
      "| measure | median | max | runs | target |",
      "|---|---|---|---|---|",
      `| first meaningful render (navigation → grid painted after the snapshot) | ${ms(median(renders))} | ${ms(Math.max(...renders))} | ${RUNS} | ≤ 1000 ms |`,
      `| … of which: app.js loaded / first snapshot record / snapshot complete (ms after navigation, medians) | ${ms(median(phases.script))} / ${ms(median(phases.first))} / ${ms(median(phases.complete))} | | ${RUNS} | |`,
      `| server CPU time per page load (page, bundle, the 10,000-record snapshot) | ${ms(median(serverCpu))} | ${ms(Math.max(...serverCpu))} | ${RUNS} | |`,
      `| this process's CPU per load (Playwright's client-certificate TLS proxy and driver; absent for a real browser) | ${ms(median(proxyCpu))} | ${ms(Math.max(...proxyCpu))} | ${RUNS} | |`,
      `| page main-thread task time per load (wall time of its tasks: parse, decode 10,000 messages, paint; inflated by the load) | ${ms(median(pageCpu))} | ${ms(Math.max(...pageCpu))} | ${RUNS} | |`,
      `| page work after the snapshot (snapshot complete → grid painted) | ${ms(median(renders.map((r, i) => r - (phases.complete[i] as number))))} | | ${RUNS} | |`,
      `| live update (agent POST → reply after commit → change painted) | ${ms(median(updates))} | ${ms(Math.max(...updates))} | ${UPDATES} | ≤ 500 ms |`,
      "",
    ].join("\n"),
  );
} finally {
  await browser.close();
  server.child.kill("SIGTERM");
  await server.exited;
  cleanup(pki);
}
