// Turns node:util parseArgs failures into one-line messages, with a did-you-mean for a mistyped
// flag, shared by `serve` (ConfigError) and the other commands (UsageError).

/** Edit distance between two strings (insertions, deletions, substitutions). */
export function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(
        Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution),
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/**
 * The known word closest to `word`, if it is close enough to be a typo: at most a third of
 * its letters off (at least one), or a prefix of exactly one known word.
 */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = levenshtein(word, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  if (best !== undefined && bestDistance <= Math.max(1, Math.floor(word.length / 3))) return best;
  const prefixed = known.filter((k) => word.length >= 2 && k.startsWith(word));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** A one-line description of a parseArgs error against the long flags in `known`. */
export function describeFlagMistake(error: unknown, known: readonly string[]): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const option = /'([^']+)'/.exec(message)?.[1] ?? message;
    const name = option.replace(/^-+/, "").split("=")[0] ?? "";
    const guess = closest(name, known);
    return `unknown flag ${option}${guess === undefined ? "" : ` (did you mean --${guess}?)`}`;
  }
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    const argument = /'([^']+)'/.exec(message)?.[1] ?? message;
    return `unexpected argument "${argument}"`;
  }
  // "Option '--server <value>' argument missing", "Option '--json' does not take an argument"
  const option = /^Option '(--[a-z0-9-]+)/.exec(message)?.[1];
  if (option !== undefined && /argument missing/.test(message)) return `${option} needs a value`;
  if (option !== undefined && /does not take/.test(message)) return `${option} takes no value`;
  return message.split(". ")[0] ?? message;
}
