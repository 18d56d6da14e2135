// Summarizes a V8 .cpuprofile (node --cpu-prof) into self time per function and per owner
// (our src/, each npm package, Node internals, GC), the hot-path table BENCHMARKS.md quotes.
import { readFileSync } from "node:fs";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Self time of one function or owner, and its share of the busy (non-idle) time. */
export interface SelfTime {
  readonly name: string;
  readonly micros: number;
  readonly share: number;
}

/** A profile's self time, by function and by owner. */
export interface ProfileSummary {
  readonly busyMicros: number;
  readonly functions: readonly SelfTime[];
  readonly owners: readonly SelfTime[];
}

/** The checkout's root, as a path ending in "/". */
const REPO = new URL("..", import.meta.url).pathname;

/**
 * Who a frame belongs to: `src`, an npm package, `node` internals, module loading, or a V8
 * pseudo-frame such as (garbage collector).
 */
export function ownerOf(url: string, functionName: string): string {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  // Module loading (tsx transpiling, the ESM loader) only happens at startup.
  if (url.startsWith("node:internal/modules") || /node_modules\/(tsx|esbuild)\//.test(url)) {
    return "startup: module loading";
  }
  if (url.startsWith("node:")) return "node";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] as string;
  // Our code by folder: src/storage's self time includes SQLite's, since better-sqlite3
  // runs statements synchronously inside the calling frame. Matched below the checkout, whose
  // own path may hold a folder named like ours (a worktree called bench, say).
  const path = url.replace(/^file:\/\//, "");
  const inRepo = path.startsWith(REPO) ? path.slice(REPO.length - 1) : path;
  const ours = /\/(src\/[^/]+|gen|bench|bin)\//.exec(inRepo);
  return ours ? (ours[1] as string) : url;
}

function shortUrl(url: string): string {
  const i = url.search(/\/(src|gen|node_modules)\//);
  return i >= 0 ? url.slice(i + 1) : url.replace(/^file:\/\//, "");
}

/** Reads and summarizes one .cpuprofile file. */
export function summarizeProfile(path: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const fn = new Map<string, number>();
  const owner = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const dt = profile.timeDeltas[i] ?? 0;
    if (node === undefined) return;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") return;
    busy += dt;
    const name =
      url === ""
        ? functionName || "(anonymous)"
        : `${functionName || "(anonymous)"} ${shortUrl(url)}:${lineNumber + 1}`;
    fn.set(name, (fn.get(name) ?? 0) + dt);
    const o = ownerOf(url, functionName);
    owner.set(o, (owner.get(o) ?? 0) + dt);
  });
  const rank = (m: Map<string, number>, n: number): SelfTime[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, micros]) => ({ name, micros, share: busy > 0 ? micros / busy : 0 }));
  return { busyMicros: busy, functions: rank(fn, top), owners: rank(owner, 15) };
}
