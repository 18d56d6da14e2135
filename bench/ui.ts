// `npm run bench:ui [-- --hosts N --screenshot PATH]`: the status page in Debian's Chromium
// against one rollout of N hosts (default 10,000): first meaningful render (navigation to the
// painted grid after WatchRollout's snapshot) and live update (an agent's event committed to
// the change painted in the page). Markdown to stdout; see BENCHMARKS.md.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { issueLeafCertificate } from "../src/pki/issue-leaf-certificate.js";
import { launchChromium, operatorContext } from "../test/e2e/browser.js";
import {
  cleanup,
  type Identity,
  makeTestPki,
  openTestRollout,
  postBinding,
  SUFFIX,
  startTestServer,
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

const pki = await makeTestPki();
const server = await startTestServer(pki);
const browser = await launchChromium();
try {
  const names = Array.from({ length: HOSTS }, (_, i) => hostname(i + 1));
  await openTestRollout(server, ROLLOUT, names, { soakDurationSecs: 0 });
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
  for (let run = 0; run < RUNS; run++) {
    await page.goto("about:blank");
    await page.goto(url);
    await page.waitForSelector('[data-snapshot="complete"]', { timeout: 60_000 });
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
    log(`first render ${run + 1}/${RUNS}: ${ms.toFixed(0)} ms`);
  }

  const updates: number[] = [];
  // Expressions as strings: bench/ is type-checked without the DOM library.
  const countOf = (state: string) =>
    `Number(document.querySelector('[data-state-count="${state}"]')?.textContent)`;
  const count = async (state: string) => (await page.evaluate(countOf(state))) as number;
  for (let i = 0; i < UPDATES; i++) {
    const before = await count("Activating");
    const t0 = performance.now();
    await post(i, {
      kind: "DispatchAck",
      currentClosureAtDispatch: `prev-${names[i]}`,
      receivedAt: at(1),
      seq: 1,
    });
    await page.waitForFunction(`${countOf("Activating")} === ${before + 1}`, undefined, {
      polling: "raf",
      timeout: 10_000,
    });
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
      `| live update (agent POST → reply after commit → change painted) | ${ms(median(updates))} | ${ms(Math.max(...updates))} | ${UPDATES} | ≤ 500 ms |`,
      "",
    ].join("\n"),
  );
} finally {
  await browser.close();
  await server.service.shutdown();
  cleanup(pki);
}
