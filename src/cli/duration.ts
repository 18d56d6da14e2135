// Soak durations as operators write them ("600s", "10m", "1h30m"), in whole seconds.

const PATTERN = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/**
 * Parses `0` or a sequence of hours, minutes and seconds in that order (`1h`, `10m`, `600s`,
 * `1h30m`); returns undefined otherwise. A bare number other than 0 is refused because
 * "600" could as well mean minutes.
 */
export function parseDurationSeconds(text: string): number | undefined {
  if (text === "0") return 0;
  const m = PATTERN.exec(text);
  if (m === null || text === "") return undefined;
  const [, h = "0", min = "0", s = "0"] = m;
  const total = Number(h) * 3600 + Number(min) * 60 + Number(s);
  return Number.isSafeInteger(total) ? total : undefined;
}

/** Whole seconds back to the shortest such text, e.g. 5400 → "1h30m". */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return "0s";
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${h > 0 ? `${h}h` : ""}${m > 0 ? `${m}m` : ""}${s > 0 ? `${s}s` : ""}`;
}
