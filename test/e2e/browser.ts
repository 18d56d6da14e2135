// Debian's Chromium driven by playwright-core for the status-page tests and bench: found at
// /usr/bin/chromium (or NIXFLEET_CP_CHROMIUM); absent, local runs skip and CI (CI=true) fails.
import { existsSync } from "node:fs";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { DEV_P12_PASSWORD } from "../../src/pki/pkcs12.js";

/** Where Chromium is, or undefined when this machine has none. */
export function chromiumPath(): string | undefined {
  const path = process.env["NIXFLEET_CP_CHROMIUM"] ?? "/usr/bin/chromium";
  return existsSync(path) ? path : undefined;
}

/** The skip reason for node:test when there is no browser; throws in CI, where one must be. */
export function browserSkipReason(): string | false {
  if (chromiumPath() !== undefined) return false;
  if (process.env["CI"] === "true") {
    throw new Error("Chromium is missing in CI: .ci/run installs Debian's chromium package");
  }
  const reason =
    "no Chromium at /usr/bin/chromium (apt-get install chromium): browser tests skipped";
  process.stderr.write(`\n*** ${reason} ***\n\n`);
  return reason;
}

/** Launches headless Chromium with no network of its own beyond what a page asks for. */
export function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (executablePath === undefined) throw new Error("no Chromium");
  return chromium.launch({
    executablePath,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * A browser context presenting the operator's PKCS#12 file to `origin`. Playwright relays
 * client-certificate connections through its own TLS proxy, whose certificate the browser
 * cannot check: hence ignoreHTTPSErrors (the proxy itself verifies nothing either).
 */
export function operatorContext(
  browser: Browser,
  origin: string,
  p12Path: string,
  viewport: { width: number; height: number },
): Promise<BrowserContext> {
  return browser.newContext({
    ignoreHTTPSErrors: true,
    viewport,
    clientCertificates: [{ origin, pfxPath: p12Path, passphrase: DEV_P12_PASSWORD }],
  });
}

// The page's globals as these Node-side callbacks see them (no DOM library in this tsconfig).
// Callbacks are functions, not strings: the page's CSP forbids eval, and they define no
// named inner function (tsx would wrap it in a helper the page does not have).
interface PageGlobals {
  readonly document: { querySelector(selector: string): { textContent: string | null } | null };
}

/** Waits until the first element matching `selector` reads `expected`, checked every frame. */
export async function waitForText(
  page: Page,
  selector: string,
  expected: string,
  timeout = 10_000,
): Promise<void> {
  await page.waitForFunction(
    ([s, e]) =>
      (globalThis as unknown as PageGlobals).document.querySelector(s as string)?.textContent === e,
    [selector, expected],
    { polling: "raf", timeout },
  );
}
