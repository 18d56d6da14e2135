// Certificate revocations from a JSON file of {hostname, notBefore, reason} entries, re-read
// when the file changes, looked up by machine id on every new connection.
import { readFileSync, unwatchFile, watchFile } from "node:fs";
import { parseInstant } from "../core/instant.js";
import type { Revocation, RevocationLookup } from "./peer-identity.js";

/** A revocation set that can be reloaded and stopped. */
export interface RevocationStore extends RevocationLookup {
  /** Every entry, for mirroring into the database. */
  entries(): readonly Revocation[];
  /** Stops watching the file. */
  close(): void;
}

/** Parses the revocations file's JSON; throws naming the bad entry. */
export function parseRevocations(text: string): Revocation[] {
  const data: unknown = JSON.parse(text);
  const list = Array.isArray(data) ? data : (data as { revocations?: unknown } | null)?.revocations;
  if (!Array.isArray(list)) throw new Error("revocations: expected a JSON array of entries");
  return list.map((entry, i) => {
    const e = entry as Record<string, unknown>;
    const machineId = e["hostname"] ?? e["machineId"];
    const notBefore = typeof e["notBefore"] === "string" ? parseInstant(e["notBefore"]) : undefined;
    if (typeof machineId !== "string" || machineId.length === 0) {
      throw new Error(`revocations[${i}].hostname: must be a non-empty string`);
    }
    if (notBefore === undefined) {
      throw new Error(`revocations[${i}].notBefore: must be an RFC 3339 timestamp`);
    }
    return {
      machineId,
      notBeforeMs: Date.parse(notBefore),
      reason: typeof e["reason"] === "string" ? e["reason"] : "revoked",
    };
  });
}

/**
 * Loads revocations from `path` (none when undefined) and reloads them when the file changes.
 * A file that fails to parse on reload keeps the previous set and is reported to `onError`.
 */
export function createRevocationStore(
  path: string | undefined,
  onError: (error: unknown) => void = () => {},
  onReload: (entries: readonly Revocation[]) => void = () => {},
): RevocationStore {
  let byId = new Map<string, Revocation>();
  let version = 0;
  const load = (): void => {
    if (path === undefined) return;
    const list = parseRevocations(readFileSync(path, "utf8"));
    byId = new Map(list.map((r) => [r.machineId, r]));
    version++;
    onReload(list);
  };
  load();
  if (path !== undefined) {
    watchFile(path, { interval: 1000, persistent: false }, () => {
      try {
        load();
      } catch (error) {
        onError(error);
      }
    });
  }
  return {
    get version() {
      return version;
    },
    find: (machineId) => byId.get(machineId),
    entries: () => [...byId.values()],
    close() {
      if (path !== undefined) unwatchFile(path);
    },
  };
}
