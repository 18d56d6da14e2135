// Issue 15's target table: every figure a ratio (or a latency) from the same run, its target
// and a verdict, so a run prints what it met and missed without anyone reading numbers off.
import { num, table } from "./report.js";

/** One line of the target table. */
export interface TargetRow {
  readonly figure: string;
  /** The measured value; NaN when the run could not measure it (then `note` says why). */
  readonly value: number;
  /** How the value is printed, e.g. "0.54" or "12.3 ms". */
  readonly shown: string;
  /** The target as printed, e.g. "≥ 0.5". */
  readonly target: string;
  readonly met: boolean | undefined;
  readonly note: string;
}

/** A "value ≥ bound" row. */
export function atLeast(figure: string, value: number, bound: number, note = ""): TargetRow {
  return {
    figure,
    value,
    shown: num(value, 2),
    target: `≥ ${bound.toFixed(1)}`,
    met: Number.isFinite(value) ? value >= bound : undefined,
    note,
  };
}

/** A "value ≤ bound" row for milliseconds. */
export function atMostMs(figure: string, value: number, bound: number, note = ""): TargetRow {
  return {
    figure,
    value,
    shown: Number.isFinite(value) ? `${num(value, 1)} ms` : "n/a",
    target: `≤ ${bound} ms`,
    met: Number.isFinite(value) ? value <= bound : undefined,
    note,
  };
}

/** The Markdown table of `rows`. */
export function targetTable(rows: readonly TargetRow[]): string {
  return table(
    ["figure", "measured (same run)", "target", "verdict", "notes"],
    rows.map((r) => [
      r.figure,
      r.shown,
      r.target,
      r.met === undefined ? "not measured" : r.met ? "met" : "missed",
      r.note,
    ]),
  );
}
