// The operator status page at /ui/: an operator-only route that serves the browser bundle
// (src/ui/, built by esbuild once per process, in memory) and nothing else; the page reads
// through RolloutService like any other client.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { PeerIdentity } from "./peer-identity.js";
import type { ServiceError } from "./service-error.js";
import { type UiAssets, uiAssets } from "./ui-bundle.js";

type Request = IncomingMessage | Http2ServerRequest;

/** The status page's path prefix: `/ui` redirects to `/ui/`. */
export const UI_PATH = "/ui";

const securityHeaders = {
  // Everything is bundled and same-origin: no CDN, no inline script, no external font.
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

/** True for the paths the status page answers. */
export function isStatusPagePath(path: string): boolean {
  return path === UI_PATH || path.startsWith(`${UI_PATH}/`);
}

/** The /ui/ handler: 401 without a usable certificate, 403 (an HTML page) for agents. */
export function createStatusPage(deps: {
  authenticate: (req: Request) => PeerIdentity | ServiceError;
}): (req: Request, res: ServerResponse, path: string) => void {
  return (req, res, path) => {
    const peer = deps.authenticate(req);
    if (!(peer instanceof PeerIdentity)) {
      return page(
        res,
        401,
        "Not signed in",
        `Your client certificate was refused: ${escapeHtml(peer.message)}.`,
      );
    }
    if (peer.role.kind !== "operator") {
      return page(
        res,
        403,
        "Operators only",
        "The fleet status page is for operator certificates; this browser presented an agent certificate. Import the operator certificate (operator-&lt;name&gt;.p12) and choose it when the browser asks.",
      );
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", ...securityHeaders });
      res.end();
      return;
    }
    if (path === UI_PATH) {
      res.writeHead(308, { location: `${UI_PATH}/`, ...securityHeaders });
      res.end();
      return;
    }
    uiAssets().then(
      (assets) => serveAsset(req, res, assets, path.slice(UI_PATH.length + 1)),
      (error: unknown) => page(res, 500, "Status page unavailable", escapeHtml(String(error))),
    );
  };
}

function serveAsset(req: Request, res: ServerResponse, assets: UiAssets, name: string): void {
  const asset = assets.get(name === "" ? "index.html" : name);
  if (asset === undefined) {
    page(res, 404, "Not found", "No such page.");
    return;
  }
  res.writeHead(200, {
    "content-type": asset.contentType,
    "content-length": String(asset.body.length),
    etag: asset.etag,
    ...securityHeaders,
  });
  res.end(req.method === "HEAD" ? undefined : asset.body);
}

function page(res: ServerResponse, status: number, title: string, message: string): void {
  res.writeHead(status, { "content-type": "text/html; charset=utf-8", ...securityHeaders });
  res.end(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title} · nixfleet-cp</title></head>` +
      `<body><h1>${title}</h1><p id="reason">${message}</p></body></html>\n`,
  );
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
