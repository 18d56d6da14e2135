// The one edge rule for text entering the domain (issue 11): well-formed Unicode without NUL.
// No store keeps a lone surrogate faithfully (SQLite writes U+FFFD into the record while the
// log keeps the escape) and PostgreSQL refuses NUL in text, so both are refused at the edge.

// In a `u` regex a surrogate pair is one code point; only a lone half is category Cs.
const LONE_SURROGATE = /\p{Cs}/u;

/** What is wrong with a string entering the domain, or undefined when it may be stored. */
export function textProblem(value: string): string | undefined {
  const lone = LONE_SURROGATE.exec(value);
  if (lone !== null) {
    const unit = value.charCodeAt(lone.index).toString(16).toUpperCase();
    return `must be well-formed Unicode (lone surrogate U+${unit} at index ${lone.index})`;
  }
  const nul = value.indexOf("\u0000");
  if (nul !== -1) return `must not contain NUL (U+0000 at index ${nul})`;
  return undefined;
}
