// Classifies what the store threw: an outage (the store is unreachable, full or shutting
// down: retry later, the request was fine) or a refusal of the data itself (retrying the same
// event can never succeed). The reducer splits a batch only on the latter; the server answers
// the former `unavailable` and reports not-ready until the store answers again.

/** The code of the error a call gets when the SQLite writer thread ended under it. */
export const WRITER_EXITED = "ERR_STORE_WRITER_EXITED";

/** Why a store operation failed. */
export type StoreFailure = "outage" | "data" | "other";

// SQLSTATE classes: 08 connection exception, 53 insufficient resources, 57 operator
// intervention (admin shutdown, cannot connect now), 58 system error (I/O); 40001/40P01 are
// transient serialization failures and deadlocks. 22 data exception and 23 integrity
// constraint violation are the event's own fault.
const PG_OUTAGE = /^(08|53|57|58)|^40001$|^40P01$/;
const PG_DATA = /^(22|23)/;
const NODE_OUTAGE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  WRITER_EXITED,
]);
const SQLITE_OUTAGE =
  /^SQLITE_(FULL|IOERR|BUSY|LOCKED|READONLY|CANTOPEN|NOMEM|PROTOCOL|CORRUPT|NOTADB)/;
const SQLITE_DATA = /^SQLITE_(CONSTRAINT|TOOBIG|MISMATCH|RANGE)/;
// pg reports a lost or refused connection by message only.
const PG_CONNECTION_MESSAGE =
  /Connection terminated|connection error|timeout exceeded when trying to connect|Connection ended|not queryable|pool after calling end/i;

/** The kind of a store failure; anything unrecognised is "other" (a bug: internal). */
export function classifyStoreError(error: unknown): StoreFailure {
  if (typeof error !== "object" || error === null) return "other";
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") {
    if (NODE_OUTAGE.has(code)) return "outage";
    if (code.startsWith("SQLITE_")) {
      if (SQLITE_OUTAGE.test(code)) return "outage";
      if (SQLITE_DATA.test(code)) return "data";
      return "other";
    }
    if (/^[0-9A-Z]{5}$/.test(code)) {
      if (PG_OUTAGE.test(code)) return "outage";
      if (PG_DATA.test(code)) return "data";
    }
  }
  const message = (error as { message?: unknown }).message;
  if (typeof message === "string" && PG_CONNECTION_MESSAGE.test(message)) return "outage";
  // AggregateError (pg connecting to every address of localhost) carries the causes.
  const errors = (error as { errors?: unknown }).errors;
  if (Array.isArray(errors) && errors.some((e) => classifyStoreError(e) === "outage")) {
    return "outage";
  }
  return "other";
}
