// A log line that a flood cannot turn into a flood of lines: at most N per window, the next
// line logged saying how many were left out. Counters beside it still count every event.

/** Options for {@link rateLimitedLog}. */
export interface RateLimitOptions {
  /** Most lines per window. Default 10. */
  readonly linesPerWindow?: number;
  /** Default 10 000 ms. */
  readonly windowMs?: number;
  readonly now?: () => number;
}

/** Wraps `log` so that it runs at most `linesPerWindow` times per window. */
export function rateLimitedLog<T extends object>(
  log: (line: T & { suppressed?: number }) => void,
  options: RateLimitOptions = {},
): (line: T) => void {
  const limit = options.linesPerWindow ?? 10;
  const windowMs = options.windowMs ?? 10_000;
  const now = options.now ?? Date.now;
  let windowStart = Number.NEGATIVE_INFINITY;
  let logged = 0;
  let suppressed = 0;
  return (line) => {
    const t = now();
    if (t - windowStart >= windowMs) {
      windowStart = t;
      logged = 0;
    }
    if (logged >= limit) {
      suppressed++;
      return;
    }
    logged++;
    log(suppressed > 0 ? { ...line, suppressed } : line);
    suppressed = 0;
  };
}
