// Text no store keeps faithfully: a NUL (PostgreSQL text refuses it) or a lone UTF-16
// surrogate (not encodable as UTF-8). One definition for the edge check and the store.

// Built from a string: a NUL in a regular expression literal reads as a mistake.
const SOURCE =
  "\\u0000|[\\ud800-\\udbff](?![\\udc00-\\udfff])|(?<![\\ud800-\\udbff])[\\udc00-\\udfff]";

/** A fresh expression matching a NUL or a lone surrogate (`g` for replacing every one). */
export function unsafeTextPattern(flags = ""): RegExp {
  return new RegExp(SOURCE, flags);
}
