// The /ui/ status page: served to operator certificates only, and in a real Chromium (with the
// operator's .p12 as its client certificate) it shows a rollout and follows it live.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { browserSkipReason, launchChromium, operatorContext, waitForText } from "./browser.js";
import {
  cleanup,
  makeTestPki,
  openTestRollout,
  postBinding,
  request,
  startTestServer,
  type TestPki,
  type TestServer,
} from "./harness.js";

const ROLLOUT = "ui@0abc";
const HOSTS = ["web-01", "web-02", "db-01"];
const at = (s: number) => new Date(Date.now() + s * 1000).toISOString();

describe("status page route", () => {
  let pki: TestPki;
  let server: TestServer;
  before(async () => {
    pki = await makeTestPki();
    server = await startTestServer(pki);
  });
  after(async () => {
    await server.service.shutdown();
    cleanup(pki);
  });

  test("operators get the page and its bundled assets, nothing from elsewhere", async () => {
    const get = (path: string) =>
      request(server.url, pki.ca, pki.operator, { path, method: "GET" });
    const index = await get("/ui/");
    assert.equal(index.status, 200);
    assert.match(String(index.headers["content-type"]), /text\/html/);
    assert.match(index.body, /<script type="module" src="app.js">/);
    assert.match(String(index.headers["content-security-policy"]), /default-src 'none'/);
    const js = await get("/ui/app.js");
    assert.equal(js.status, 200);
    assert.match(String(js.headers["content-type"]), /text\/javascript/);
    // The Connect client and the page itself are in the one bundle.
    assert.ok(js.body.includes("Connect-Protocol-Version"));
    assert.ok(js.body.includes("nixfleet:first-render"));
    assert.doesNotMatch(
      js.body,
      /https?:\/\/(?!localhost)[a-z0-9.-]+\.[a-z]{2,}\/[^"'\s]*\.(js|css|woff2?)/,
    );
    const css = await get("/ui/app.css");
    assert.equal(css.status, 200);
    assert.doesNotMatch(css.body, /@import|url\(http/);
    assert.equal((await get("/ui/nope.js")).status, 404);
    const redirect = await get("/ui");
    assert.equal(redirect.status, 308);
    assert.equal(redirect.headers["location"], "/ui/");
  });

  test("an agent certificate gets a 403 page", async () => {
    const r = await request(server.url, pki.ca, pki.agent("web-01"), {
      path: "/ui/",
      method: "GET",
    });
    assert.equal(r.status, 403);
    assert.match(r.body, /Operators only/);
    const js = await request(server.url, pki.ca, pki.agent("web-01"), {
      path: "/ui/app.js",
      method: "GET",
    });
    assert.equal(js.status, 403);
  });
});

describe("status page in Chromium", { skip: browserSkipReason() }, () => {
  let pki: TestPki;
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let shots: string;
  const foreign: string[] = [];

  before(async () => {
    pki = await makeTestPki();
    server = await startTestServer(pki);
    await openTestRollout(server, ROLLOUT, HOSTS, { soakDurationSecs: 0 });
    shots = mkdtempSync(join(tmpdir(), "nixfleet-ui-shots-"));
    browser = await launchChromium();
    context = await operatorContext(
      browser,
      server.url,
      pki.pki.operators["admin"]?.p12Path as string,
      { width: 1280, height: 800 },
    );
    page = await context.newPage();
    page.on("request", (r) => {
      if (!r.url().startsWith(server.url)) foreign.push(r.url());
    });
  });
  after(async () => {
    await browser?.close();
    await server?.service.shutdown();
    if (pki) cleanup(pki);
    if (shots) rmSync(shots, { recursive: true, force: true });
  });

  const text = (selector: string) => page.locator(selector).first().textContent();
  const waitText = (selector: string, expected: string) => waitForText(page, selector, expected);
  const post = (host: string, event: Record<string, unknown>) =>
    postBinding(server.url, pki.ca, pki.agent(host), { hostname: host, rolloutId: ROLLOUT, event });

  test("the overview lists the rollout with its derived status", async () => {
    await page.goto(`${server.url}/ui/`);
    await page.waitForSelector(`tr[data-rollout="${ROLLOUT}"]`);
    assert.equal(await text(`tr[data-rollout="${ROLLOUT}"] .status`), "pending");
    assert.equal(await text(`tr[data-rollout="${ROLLOUT}"] td.num`), "3");
  });

  test("opening the rollout shows every host, and a posted event appears live", async () => {
    await page.click(`a[href="#/rollout/${encodeURIComponent(ROLLOUT)}"]`);
    await page.waitForSelector('[data-snapshot="complete"]');
    assert.equal(await text('[data-state-count="Pending"]'), "3");
    assert.equal(await page.getAttribute("canvas.grid-canvas", "data-rendered"), "3");
    assert.equal(await text("#conn"), "live");

    const r = await post("web-01", {
      kind: "DispatchAck",
      currentClosureAtDispatch: "prev-web-01",
      receivedAt: at(1),
      seq: 1,
    });
    assert.equal(r.status, 204, r.body);
    await waitText('[data-state-count="Activating"]', "1");
    assert.equal(await text('[data-state-count="Pending"]'), "2");
    assert.equal(await text(".rollout .status"), "in progress");
  });

  test("a host's panel shows its record and timeline and follows it live", async () => {
    await page.goto(`${server.url}/ui/#/rollout/${encodeURIComponent(ROLLOUT)}/host/web-01`);
    await page.waitForSelector('.host-panel [data-host-state="Activating"]');
    await page.waitForSelector('.timeline tr[data-event-kind="DispatchAck"]');
    const r = await post("web-01", {
      kind: "ActivationCompleted",
      observedCurrentClosure: "def456-nixos-system-web-01",
      exitCode: 0,
      completedAt: at(2),
      seq: 2,
    });
    assert.equal(r.status, 204, r.body);
    await page.waitForSelector('.host-panel [data-host-state="Soaking"]', { timeout: 10_000 });
    await page.waitForSelector('.timeline tr[data-event-kind="ActivationCompleted"]', {
      timeout: 10_000,
    });
    await waitText('[data-state-count="Soaking"]', "1");
  });

  test("search and state filters narrow the grid", async () => {
    await page.fill("input.search", "web");
    await page.waitForSelector('canvas.grid-canvas[data-rendered="2"]');
    await page.click('button[data-filter="Soaking"]');
    await page.waitForSelector('canvas.grid-canvas[data-rendered="1"]');
    await page.click('button[data-filter="Soaking"]');
    await page.fill("input.search", "");
    await page.waitForSelector('canvas.grid-canvas[data-rendered="3"]');
  });

  test("a host's panel marks its seq gap and its refused events", async () => {
    const dispatch = { kind: "DispatchAck", currentClosureAtDispatch: "p", receivedAt: at(1) };
    assert.equal((await post("web-02", { ...dispatch, seq: 1 })).status, 204);
    const started = { kind: "ActivationStarted", startedAt: at(2), switchMethod: "x", seq: 3 };
    assert.equal((await post("web-02", started)).status, 204);
    // A stale DispatchAck: illegal while Activating, recorded and answered 202 (SPEC §10).
    assert.equal((await post("web-02", { ...dispatch, seq: 4 })).status, 202);
    await page.goto(`${server.url}/ui/#/rollout/${encodeURIComponent(ROLLOUT)}/host/web-02`);
    // Refusals have no stream: a freshly opened rollout reads them (then every 30 s).
    await page.reload();
    await waitText('.host-panel li[data-mark="seq-gap"]', "1 event missing (lowest seq 2)");
    await waitText('.host-panel li[data-mark="refused"]', "1 refused event");
  });

  test("a larger rollout is drawn as squares; clicking one opens that host", async () => {
    const many = Array.from({ length: 300 }, (_, i) => `n-${String(i).padStart(3, "0")}`);
    await openTestRollout(server, "big@0abc", many);
    await page.goto(`${server.url}/ui/#/rollout/${encodeURIComponent("big@0abc")}`);
    await page.waitForSelector('[data-rollout="big@0abc"][data-snapshot="complete"]');
    const canvas = page.locator("canvas.grid-canvas");
    assert.equal(await canvas.getAttribute("data-layout"), "squares");
    assert.equal(await canvas.getAttribute("data-rendered"), "300");
    // Second cell of the first row: 10 px squares, 2 px apart.
    await canvas.click({ position: { x: 17, y: 5 } });
    await page.waitForSelector('.host-panel h3:has-text("n-001")');
    assert.match(page.url(), /\/host\/n-001$/);
  });

  test("a screenshot of the live page is saved", async () => {
    const path = join(process.env["NIXFLEET_CP_UI_SCREENSHOT_DIR"] ?? shots, "ui.png");
    await page.screenshot({ path, fullPage: true });
    assert.ok(statSync(path).size > 10_000);
    assert.deepEqual(foreign, [], "the page fetched nothing from another origin");
  });

  test("an agent certificate is refused with the 403 page", async () => {
    const agent = await browser.newContext({
      ignoreHTTPSErrors: true,
      clientCertificates: [
        {
          origin: server.url,
          certPath: pki.pki.agents["web-01"]?.certPath as string,
          keyPath: pki.pki.agents["web-01"]?.keyPath as string,
        },
      ],
    });
    try {
      const agentPage = await agent.newPage();
      const response = await agentPage.goto(`${server.url}/ui/`);
      assert.equal(response?.status(), 403);
      assert.equal(await agentPage.locator("h1").textContent(), "Operators only");
    } finally {
      await agent.close();
    }
  });
});
