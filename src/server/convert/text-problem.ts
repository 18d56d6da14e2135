// The one edge rule for text entering the domain (issue 11): well-formed Unicode without NUL.
// No store keeps a lone surrogate faithfully (SQLite writes U+FFFD into the record while the
// log keeps the escape) and PostgreSQL refuses NUL in text, so both are refused at the edge.
// The pattern is the core's (src/core/unsafe-text.ts), shared with the binding's refusals.
import { unsafeTextPattern } from "../../core/unsafe-text.js";

const UNSAFE = unsafeTextPattern();

/** What is wrong with a string entering the domain, or undefined when it may be stored. */
export function textProblem(value: string): string | undefined {
  const found = UNSAFE.exec(value);
  if (found === null) return undefined;
  if (found[0] === "\u0000") return `must not contain NUL (U+0000 at index ${found.index})`;
  const unit = value.charCodeAt(found.index).toString(16).toUpperCase();
  return `must be well-formed Unicode (lone surrogate U+${unit} at index ${found.index})`;
}
