// The failure every command reports as one line on stderr with exit code 1 (usage mistakes are
// UsageError, exit 2).

/** A failure the CLI reports on stderr with exit code 1; the message says what to do. */
export class CommandError extends Error {}
