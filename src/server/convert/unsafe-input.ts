// What the original CP accepted but no store keeps faithfully (SPEC §10): a NUL or a lone
// surrogate in any string (PostgreSQL text refuses NUL; UTF-8 cannot encode a lone
// surrogate), and a seq beyond 2^53-1 (JSON numbers round there, and dedup would misfire).
import type { RemoteEvent } from "../../core/event.js";
import { unsafeTextPattern } from "../../core/unsafe-text.js";
import { LIMITS } from "./event-fields.js";

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

// Strings the host's record keeps (closures, the probe map's names and reasons) are bounded
// even on the lenient binding: the record is rewritten by every event of its host, so an
// unbounded value there would make each of them cost the single writer (issue 11, fix 4).
// Everything else only reaches the append-only log, which the body size limit bounds.
const RECORD_BOUND: Readonly<Record<string, number>> = {
  currentClosureAtDispatch: LIMITS.closure,
  observedCurrentClosure: LIMITS.closure,
  revertedToClosure: LIMITS.closure,
  currentClosure: LIMITS.closure,
  probeName: LIMITS.name,
  failureReason: LIMITS.reason,
};

function oversize(event: RemoteEvent): UnsafeValue | undefined {
  for (const [key, max] of Object.entries(RECORD_BOUND)) {
    const value = (event as unknown as Record<string, unknown>)[key];
    if (typeof value === "string" && value.length > max) {
      return {
        field: `event.${key}`,
        problem: `is ${value.length} characters; at most ${max} are kept in the host's record`,
      };
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
    scan(request.event, "event") ??
    oversize(request.event)
  );
}
