// Reads a unary request body whole with a bound, for the request gate (connect-gate.ts) and the
// lean path (lean-path.ts): a body declared or grown past the bound is refused early and the
// rest of it drained, never buffered.
import type { Readable } from "node:stream";

/**
 * Calls `done` once: with the body, or "too-large" as soon as `declaredLength` or the bytes
 * read pass `limit` (the rest then flows away unread). Nothing is called when the source fails.
 */
export function readBody(
  source: Readable,
  declaredLength: string | undefined,
  limit: number,
  done: (body: Buffer | "too-large") => void,
): void {
  if (Number(declaredLength ?? 0) > limit) {
    source.resume();
    done("too-large");
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  source.on("data", (chunk: Buffer) => {
    if (finished) return;
    size += chunk.length;
    if (size > limit) {
      finished = true;
      source.resume();
      done("too-large");
      return;
    }
    chunks.push(chunk);
  });
  source.on("end", () => {
    if (finished) return;
    finished = true;
    done(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
  });
  source.on("error", () => {
    finished = true;
  });
}
