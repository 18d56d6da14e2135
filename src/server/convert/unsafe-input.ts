// What the original CP accepted but no store keeps faithfully (SPEC §10): a NUL or a lone
// surrogate in any string (PostgreSQL text refuses NUL; UTF-8 cannot encode a lone
// surrogate), and a seq beyond 2^53-1 (JSON numbers round there, and dedup would misfire).
import type { RemoteEvent } from "../../core/event.js";
import { unsafeTextPattern } from "../../core/unsafe-text.js";

/** The first unsafe value of a decoded request: its binding path and what is wrong. */
export interface UnsafeValue {
  readonly field: string;
  readonly problem: string;
}

const UNSAFE = unsafeTextPattern();

function textProblem(value: string): string | undefined {
  const m = UNSAFE.exec(value);
  if (m === null) return undefined;
  return m[0] === "\u0000"
    ? `contains a NUL character at offset ${m.index}, which the store cannot keep`
    : `contains a lone UTF-16 surrogate at offset ${m.index}, which is not valid Unicode text`;
}

function scan(value: unknown, path: string): UnsafeValue | undefined {
  if (typeof value === "string") {
    const problem = textProblem(value);
    return problem === undefined ? undefined : { field: path, problem };
  }
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = scan(item, `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      const found = scan(item, `${path}.${key}`);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** The first value of a decoded request that must be refused as unsafe input, if any. */
export function unsafeInput(request: {
  readonly hostname: string;
  readonly rolloutId: string;
  readonly event: RemoteEvent;
}): UnsafeValue | undefined {
  if (!Number.isSafeInteger(request.event.seq)) {
    return {
      field: "event.seq",
      problem: `must be at most ${Number.MAX_SAFE_INTEGER} (2^53-1): larger values cannot be read exactly`,
    };
  }
  return (
    scan(request.hostname, "hostname") ??
    scan(request.rolloutId, "rolloutId") ??
    scan(request.event, "event")
  );
}
