// 64-bit integers arrive as bigint (better-sqlite3 safe integers) or number (pg, with our
// int8 parser); the repositories hand out plain numbers.

/** Converts a stored integer to a number, refusing anything beyond 2^53-1. */
export function toNumber(value: number | bigint | string): number {
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isSafeInteger(n))
    throw new RangeError(`stored integer ${value} is not a safe integer`);
  return n;
}
