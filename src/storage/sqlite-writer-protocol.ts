// The messages between the service and its SQLite writer thread: one request per batch (or
// per operator write), one reply after COMMIT returned; items and errors in cloneable form.
import BetterSqlite3 from "better-sqlite3";
import type { Instant } from "../core/instant.js";
import type { StepLimits } from "../core/step.js";
import type { OpenRolloutRequest } from "./open-rollout.js";
import type { BatchItem, HeartbeatItem, WorkItem } from "./plan-batch.js";
import type { RequestOrigin } from "./refused-events.js";
import type { Revocation } from "./revocations.js";

/** What the thread is started with (its workerData). */
export interface WriterThreadData {
  /** The database URL, as the service was given it (never `:memory:`). */
  readonly url: string;
  readonly limits: StepLimits | undefined;
}

/** A call into the writer thread. */
export type WriterCall =
  | { readonly op: "work"; readonly items: readonly WireItem[]; readonly now: Instant }
  | { readonly op: "openRollout"; readonly request: OpenRolloutRequest; readonly now: Instant }
  | { readonly op: "revocations"; readonly entries: readonly Revocation[] }
  | { readonly op: "ping" }
  | { readonly op: "close" };

/** A call as sent; `id` pairs it with its reply. */
export type WriterRequest = WriterCall & { readonly id: number };

/** An error as it crosses the thread boundary (structured cloning keeps no `code`). */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly code: string | undefined;
  readonly stack: string | undefined;
}

/** The answer to one request. */
export type WriterReply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: WireError };

/** An origin with its request text already rendered: a closure cannot be cloned. */
interface WireOrigin {
  readonly peer: string;
  readonly protocol: RequestOrigin["protocol"];
  readonly text: string;
}

/** A work item as sent: an event's origin carries its text instead of a closure. */
export type WireItem =
  | HeartbeatItem
  | (Omit<BatchItem, "origin"> & { readonly origin?: WireOrigin });

// A view into a larger buffer (a request body, Buffer's 8 KiB pool) would be cloned with the
// whole buffer behind it; a signature or key is a few dozen bytes, so copy just those.
function own(bytes: Uint8Array): Uint8Array {
  return bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
}

/**
 * Items ready for postMessage. The refused-event log wants the request text of a refused
 * item, and which items are refused is only known inside the transaction: the text is
 * rendered for every item here (a few microseconds for proto JSON, a copy for the binding).
 */
export function toWireItems(items: readonly WorkItem[]): WireItem[] {
  return items.map((item) => {
    if ("heartbeat" in item) return item;
    const { origin, signature, signed } = item;
    // Spread and overwrite (rest destructuring costs more), so a field BatchItem gains later
    // travels as it is; an absent signed or origin travels as undefined, read the same.
    return {
      ...item,
      signature: signature === null ? null : own(signature),
      signed: signed === undefined ? undefined : { form: signed.form, key: own(signed.key) },
      origin:
        origin === undefined
          ? undefined
          : { peer: origin.peer, protocol: origin.protocol, text: origin.request() },
    };
  });
}

/** The items a writer applies, from what toWireItems sent. */
export function fromWireItems(items: readonly WireItem[]): WorkItem[] {
  return items.map((item) => {
    if ("heartbeat" in item || item.origin === undefined) return item as WorkItem;
    const { peer, protocol, text } = item.origin;
    return { ...item, origin: { peer, protocol, request: () => text } };
  });
}

/** `error` in cloneable form, keeping what classifyStoreError and the logs read. */
export function toWireError(error: unknown): WireError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name,
      message: error.message,
      code: typeof code === "string" ? code : undefined,
      stack: error.stack,
    };
  }
  return { name: "Error", message: String(error), code: undefined, stack: undefined };
}

// Callers tell a bug in their input (RangeError, e.g. from openRollout) from the rest by class.
const BUILT_IN: Record<string, ErrorConstructor> = { RangeError, TypeError };

/** The error the writer threw, rebuilt: a SqliteError stays one, with its code. */
export function fromWireError(wire: WireError): Error {
  const error =
    wire.name === "SqliteError" && wire.code !== undefined
      ? new BetterSqlite3.SqliteError(wire.message, wire.code)
      : Object.assign(
          new (BUILT_IN[wire.name] ?? Error)(wire.message),
          wire.code === undefined ? {} : { code: wire.code },
        );
  error.name = wire.name;
  // The writer's stack says where it failed; this thread's would only say "a reply came".
  if (wire.stack !== undefined) error.stack = wire.stack;
  return error;
}
