// Fails when src/core imports anything outside itself: the state machine stays pure
// (no node:*, no packages, no gen/, no storage or server code).
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const root = resolve(dirname(new URL(import.meta.url).pathname), "..");
const core = join(root, "src/core");
const IMPORT =
  /(?:^|\s)(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;
const FORBIDDEN_GLOBALS =
  /\b(?:Date\.now|performance\.now|process\.|Math\.random|setTimeout|setInterval|require\()/;

const problems: string[] = [];
function walk(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (entry.name.endsWith(".ts")) check(path);
  }
}
function check(file: string): void {
  const text = readFileSync(file, "utf8");
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3] ?? "";
    const target = spec.startsWith(".") ? resolve(dirname(file), spec) : null;
    if (target === null || !target.startsWith(`${core}/`)) {
      problems.push(`${relative(root, file)}: imports "${spec}" from outside src/core`);
    }
  }
  text.split("\n").forEach((line, i) => {
    if (FORBIDDEN_GLOBALS.test(line) || /new Date\(\)/.test(line)) {
      problems.push(`${relative(root, file)}:${i + 1}: clock, randomness or process access`);
    }
  });
}

walk(core);
if (problems.length > 0) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log("src/core imports only itself");
