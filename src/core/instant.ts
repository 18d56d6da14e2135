// Instants as fixed-width UTC RFC 3339 strings with nanoseconds: comparable as strings,
// JSON- and SQL-portable, and exact for any 0/3/6/9-digit agent timestamp.

declare const instantBrand: unique symbol;

/** An instant, always `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (UTC, 9 fractional digits). */
export type Instant = string & { readonly [instantBrand]: true };

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

const NANOS_PER_SECOND = 1_000_000_000n;
const MIN_SECONDS = -62135596800n; // 0001-01-01T00:00:00Z
const MAX_SECONDS = 253402300799n; // 9999-12-31T23:59:59Z

/**
 * Parses any RFC 3339 timestamp (with any offset) into an Instant, or returns undefined
 * when the text is not a valid RFC 3339 date-time in years 0001-9999.
 */
export function parseInstant(text: string): Instant | undefined {
  const m = RFC3339.exec(text);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, frac = "", off = "Z"] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetSeconds = 0;
  if (off !== "Z" && off !== "z") {
    const oh = Number(off.slice(1, 3));
    const om = Number(off.slice(4, 6));
    if (oh > 23 || om > 59) return undefined;
    offsetSeconds = (oh * 3600 + om * 60) * (off.startsWith("-") ? -1 : 1);
  }
  const seconds = utcSeconds(year, month, day, hour, minute, second) - BigInt(offsetSeconds);
  const nanos = Number(frac.padEnd(9, "0"));
  return instantFromParts(seconds, nanos);
}

// Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear does not.
function utcSeconds(y: number, mo: number, d: number, h: number, mi: number, s: number): bigint {
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, 0);
  return BigInt(date.getTime() / 1000);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    return leap ? 29 : 28;
  }
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Builds an Instant from seconds since the Unix epoch and nanoseconds (0..999,999,999),
 * or returns undefined outside years 0001-9999.
 */
export function instantFromParts(seconds: bigint, nanos: number): Instant | undefined {
  if (!Number.isInteger(nanos) || nanos < 0 || nanos >= 1e9) return undefined;
  if (seconds < MIN_SECONDS || seconds > MAX_SECONDS) return undefined;
  // Years 0001-9999 print with exactly four digits.
  const head = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  return `${head}.${String(nanos).padStart(9, "0")}Z` as Instant;
}

/** Seconds since the Unix epoch and nanoseconds of an Instant. */
export function instantToParts(instant: Instant): { seconds: bigint; nanos: number } {
  const n = (from: number, to: number) => Number(instant.slice(from, to));
  const seconds = utcSeconds(n(0, 4), n(5, 7), n(8, 10), n(11, 13), n(14, 16), n(17, 19));
  return { seconds, nanos: n(20, 29) };
}

/** Epoch nanoseconds of an Instant. */
export function instantToEpochNanos(instant: Instant): bigint {
  const { seconds, nanos } = instantToParts(instant);
  return seconds * NANOS_PER_SECOND + BigInt(nanos);
}

/** The Instant at the given epoch nanoseconds, or undefined outside years 0001-9999. */
export function instantFromEpochNanos(epochNanos: bigint): Instant | undefined {
  let seconds = epochNanos / NANOS_PER_SECOND;
  let nanos = epochNanos % NANOS_PER_SECOND;
  if (nanos < 0n) {
    nanos += NANOS_PER_SECOND;
    seconds -= 1n;
  }
  return instantFromParts(seconds, Number(nanos));
}

/**
 * The Instant `seconds` (a whole number, negative for earlier) later, clamped to years
 * 0001-9999: past the end it is the last instant of 9999, before the start the first of 0001.
 */
export function addSeconds(instant: Instant, seconds: number): Instant {
  const later = instantFromEpochNanos(
    instantToEpochNanos(instant) + BigInt(seconds) * NANOS_PER_SECOND,
  );
  if (later !== undefined) return later;
  return (
    seconds < 0 ? "0001-01-01T00:00:00.000000000Z" : "9999-12-31T23:59:59.999999999Z"
  ) as Instant;
}

/**
 * RFC 3339 text with the shortest of 0, 3, 6 or 9 fractional digits that is exact,
 * the form proto-JSON uses and agents send.
 */
export function formatInstant(instant: Instant): string {
  const frac = instant.slice(20, 29);
  const head = instant.slice(0, 19);
  if (frac === "000000000") return `${head}Z`;
  if (frac.endsWith("000000")) return `${head}.${frac.slice(0, 3)}Z`;
  if (frac.endsWith("000")) return `${head}.${frac.slice(0, 6)}Z`;
  return `${head}.${frac}Z`;
}
