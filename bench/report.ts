// Output helpers: Markdown tables (so a run's output pastes straight into BENCHMARKS.md) and
// number formats that keep raw figures and ratios visibly apart.
import { cpus } from "node:os";

/** A Markdown table with right-aligned numeric columns. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = headers.map((_, i) => rows.every((r) => /^[-\d.,×%≤≥<> n/a]*$/.test(r[i] ?? "")));
  const cell = (text: string, i: number) =>
    numeric[i] ? text.padStart(widths[i] as number) : text.padEnd(widths[i] as number);
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => cell(c, i)).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (numeric[i] ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2))).join("|")}|`;
  return [line(headers), rule, ...rows.map(line)].join("\n");
}

/** A number with `digits` decimals, or "n/a". */
export function num(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return "n/a";
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** a / b as "0.42", or "n/a". */
export function ratio(a: number | undefined, b: number | undefined, digits = 2): string {
  if (a === undefined || b === undefined || !(b > 0) || !Number.isFinite(a)) return "n/a";
  return num(a / b, digits);
}

/** A share as a percentage, e.g. "12.5%". */
export function pct(share: number | undefined, digits = 1): string {
  return share === undefined || !Number.isFinite(share) ? "n/a" : `${num(share * 100, digits)}%`;
}

/** The median of the defined finite values, or NaN. */
export function median(values: readonly (number | undefined)[]): number {
  const v = values
    .filter((x): x is number => x !== undefined && Number.isFinite(x))
    .sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1
    ? (v[mid] as number)
    : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

/** The header every run prints: when, where, and with which command. */
export function runHeader(title: string, argv: readonly string[]): string {
  const cpu = cpus();
  const args = argv.length > 0 ? ` -- ${argv.join(" ")}` : "";
  return [
    `## ${title}`,
    "",
    `- date: ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}`,
    `- command: \`npm run bench${args}\``,
    `- machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? "unknown CPU"}, node ${process.version}; driver and servers share these cores`,
  ].join("\n");
}
