// Errors as values for every surface, and the one place that maps them to Connect codes
// (Connect, gRPC, gRPC-Web) and to HTTP statuses (the JSON binding and plain routes).
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import type { Refusal } from "../core/refusal.js";
import { classifyStoreError } from "../storage/store-error.js";

/** Why a request did not succeed, independent of the protocol that carried it. */
export type ServiceError =
  | { readonly code: "invalid_argument"; readonly message: string; readonly field?: string }
  | { readonly code: "unauthenticated"; readonly message: string }
  | { readonly code: "permission_denied"; readonly message: string }
  | { readonly code: "not_found"; readonly message: string }
  | { readonly code: "already_exists"; readonly message: string }
  | { readonly code: "failed_precondition"; readonly message: string }
  | {
      readonly code: "resource_exhausted";
      readonly message: string;
      readonly retryAfterSeconds: number;
    }
  | { readonly code: "unavailable"; readonly message: string; readonly retryAfterSeconds: number }
  | { readonly code: "payload_too_large"; readonly message: string }
  | { readonly code: "unsupported_media_type"; readonly message: string }
  | { readonly code: "method_not_allowed"; readonly message: string }
  | { readonly code: "internal"; readonly message: string };

export type ServiceErrorCode = ServiceError["code"];

const CONNECT_CODES: Record<ServiceErrorCode, Code> = {
  invalid_argument: Code.InvalidArgument,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  payload_too_large: Code.ResourceExhausted,
  unsupported_media_type: Code.InvalidArgument,
  method_not_allowed: Code.Unimplemented,
  internal: Code.Internal,
};

const HTTP_STATUSES: Record<ServiceErrorCode, number> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  failed_precondition: 409,
  // The binding's agents treat 503 + Retry-After as "slow down" (SPEC §3.3).
  resource_exhausted: 503,
  unavailable: 503,
  payload_too_large: 413,
  unsupported_media_type: 415,
  method_not_allowed: 405,
  internal: 500,
};

/** The snake_case name of a Connect code, e.g. permission_denied. */
export function codeName(code: Code): string {
  return Code[code].replace(/[A-Z]/g, (c, i) => (i === 0 ? c : `_${c}`)).toLowerCase();
}

/** The Connect code name an error value is answered with on Connect, gRPC and gRPC-Web. */
export function connectCodeName(error: ServiceError): string {
  return codeName(CONNECT_CODES[error.code]);
}

/** Builds an error value. */
export function serviceError<C extends ServiceErrorCode>(
  code: C,
  message: string,
  extra?: Omit<Extract<ServiceError, { code: C }>, "code" | "message">,
): Extract<ServiceError, { code: C }> {
  return { code, message, ...extra } as Extract<ServiceError, { code: C }>;
}

/** The answer when the ingest channel is full: slow down and retry the same seq. */
export function queueFull(retryAfterSeconds: number): ServiceError {
  return serviceError(
    "resource_exhausted",
    "ingest queue is full; retry with the same seq after the hinted delay",
    { retryAfterSeconds },
  );
}

/** The answer while the store is unreachable: nothing about where it is or why. */
export function storeUnavailable(retryAfterSeconds: number): ServiceError {
  return serviceError(
    "unavailable",
    "the store is unreachable; retry with the same request after the hinted delay",
    { retryAfterSeconds },
  );
}

/**
 * The answer for something thrown where an error value was expected: a store outage is
 * `unavailable` with a retry hint, a store refusal of the data `invalid_argument`, anything
 * else `internal`. No reply carries the thrown message (it may name hosts, addresses, SQL).
 */
export function fromThrown(error: unknown, retryAfterSeconds: number): ServiceError {
  switch (classifyStoreError(error)) {
    case "outage":
      return storeUnavailable(retryAfterSeconds);
    case "data":
      return serviceError(
        "invalid_argument",
        "the store cannot keep a value of this request; do not retry it unchanged",
      );
    case "other":
      return serviceError("internal", "internal error");
  }
}

/**
 * The Connect code for a failure to decode a request message (truncated or malformed
 * protobuf, bad JSON): always the client's fault, never a 5xx that agents would retry.
 */
export function decodeFailure(field: string | undefined, message: string): ServiceError {
  return field === undefined
    ? serviceError("invalid_argument", message)
    : serviceError("invalid_argument", message, { field });
}

function retryAfter(error: ServiceError): number | undefined {
  return error.code === "resource_exhausted" || error.code === "unavailable"
    ? error.retryAfterSeconds
    : undefined;
}

/**
 * The ConnectError for an error value: retryable errors carry a `retry-after` header (or
 * trailer, on gRPC) and a google.rpc.RetryInfo detail.
 */
export function toConnectError(error: ServiceError): ConnectError {
  const code = CONNECT_CODES[error.code];
  const seconds = retryAfter(error);
  if (seconds === undefined) return new ConnectError(error.message, code);
  return new ConnectError(error.message, code, { "retry-after": String(seconds) }, [
    {
      desc: RetryInfoSchema,
      value: create(RetryInfoSchema, { retryDelay: { seconds: BigInt(seconds) } }),
    },
  ]);
}

/** The HTTP status, headers and JSON body for an error value on a plain HTTP route. */
export function toHttpError(error: ServiceError): {
  status: number;
  headers: Record<string, string>;
  body: string;
} {
  const seconds = retryAfter(error);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (seconds !== undefined) headers["retry-after"] = String(seconds);
  const field = error.code === "invalid_argument" ? error.field : undefined;
  return {
    status: HTTP_STATUSES[error.code],
    headers,
    body: JSON.stringify(
      field === undefined
        ? { code: error.code, message: error.message }
        : { code: error.code, message: error.message, field },
    ),
  };
}

/** The truthful error of a recorded refusal (what Connect/gRPC answer, and `status` mode). */
export function refusalError(refusal: Refusal): ServiceError {
  switch (refusal.code) {
    case "invalid_argument":
      return serviceError(
        "invalid_argument",
        refusal.message,
        refusal.field === null ? {} : { field: refusal.field },
      );
    case "not_found":
      return serviceError("not_found", refusal.message);
    case "failed_precondition":
      return serviceError("failed_precondition", refusal.message);
  }
}

/**
 * The binding's answer to a recorded refusal when agents must not wedge (SPEC §10): 202 with
 * the verdict in the body, so an agent that deletes an event only on a 2xx moves on.
 */
export function toHttpRefusal(refusal: Refusal): {
  status: number;
  headers: Record<string, string>;
  body: string;
} {
  return {
    status: 202,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      outcome: "refused",
      code: refusal.code,
      reason: refusal.reason,
      message: refusal.message,
      ...(refusal.field === null ? {} : { field: refusal.field }),
    }),
  };
}
