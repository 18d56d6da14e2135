// The canonical rollout id `<channel>@<channel_ref>` (SPEC §3.2).

// The character classes exclude "@", so a match has exactly one.
const ROLLOUT_ID = /^([a-z0-9_-]+)@([0-9a-f]+)$/;

/**
 * Splits a canonical rollout id into its channel (`[a-z0-9_-]+`) and ref (lowercase hex),
 * or returns undefined when the id is not in that form.
 */
export function parseRolloutId(id: string): { channel: string; ref: string } | undefined {
  const m = ROLLOUT_ID.exec(id);
  if (m === null) return undefined;
  return { channel: m[1]!, ref: m[2]! };
}
