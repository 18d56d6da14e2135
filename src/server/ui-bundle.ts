// Builds the status page's assets from src/ui/ with esbuild, once per process and in memory,
// so a fresh clone serves it with no build step and nothing generated is committed.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** One served file. */
export interface UiAsset {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
}

/** The page's files by name under /ui/. */
export type UiAssets = ReadonlyMap<string, UiAsset>;

let built: Promise<UiAssets> | undefined;

/** The bundled page: built on first use (a few hundred ms), then the same object. */
export function uiAssets(): Promise<UiAssets> {
  built ??= buildUiAssets().catch((error: unknown) => {
    built = undefined;
    throw error;
  });
  return built;
}

/** Runs esbuild over src/ui/main.ts: app.js and app.css, plus index.html as written. */
export async function buildUiAssets(): Promise<UiAssets> {
  // esbuild is loaded only when the page is first asked for: serving agents never pays for it.
  const { build } = await import("esbuild");
  const source = join(packageRoot(), "src", "ui");
  const result = await build({
    entryPoints: [join(source, "main.ts")],
    bundle: true,
    write: false,
    format: "esm",
    target: ["chrome120", "firefox120", "safari17"],
    minify: true,
    legalComments: "none",
    outdir: "out",
    entryNames: "app",
    logLevel: "silent",
  });
  const assets = new Map<string, UiAsset>();
  const add = (name: string, body: Buffer, contentType: string) =>
    assets.set(name, {
      body,
      contentType,
      etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
    });
  for (const file of result.outputFiles) {
    const name = file.path.split("/").at(-1) as string;
    const type = name.endsWith(".css") ? "text/css" : "text/javascript";
    add(name, Buffer.from(file.contents), `${type}; charset=utf-8`);
  }
  add("index.html", readFileSync(join(source, "index.html")), "text/html; charset=utf-8");
  return assets;
}

// The checkout's root, from src/server/ (tsx) or dist/src/server/ (compiled) alike.
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "src", "ui", "main.ts"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("src/ui/main.ts not found above the server's files");
    dir = parent;
  }
  return dir;
}
