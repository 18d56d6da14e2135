// RFC 8785 JSON Canonicalization (JCS): the exact bytes an agent signs over its event.

/**
 * Serializes a JSON value canonically: object keys sorted by UTF-16 code units, no
 * whitespace, numbers in ECMAScript form, strings escaped as JSON.stringify does (which is
 * what RFC 8785 specifies). Throws on values JSON cannot carry.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === "boolean") return String(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError("canonical JSON has no NaN or Infinity");
    return JSON.stringify(value);
  }
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  throw new TypeError(`canonical JSON cannot carry a ${typeof value}`);
}
