// Opaque page tokens for the operator's list RPCs: the filters a page was read with and the
// key it ended on, so a token is only honoured with the same filters.
import { serviceError, toConnectError } from "./service-error.js";

interface Token {
  readonly f: unknown;
  readonly a: unknown;
}

/** A token that continues after `after` for the same `filter`. */
export function encodePageToken(filter: object, after: unknown): string {
  return Buffer.from(JSON.stringify({ f: filter, a: after } satisfies Token)).toString("base64url");
}

function invalidToken(message: string): never {
  throw toConnectError(
    serviceError("invalid_argument", `pageToken: ${message}`, { field: "pageToken" }),
  );
}

/**
 * The key a token continues after, or undefined for "" (the first page). Throws
 * invalid_argument for a token this service did not issue or issued for other filters.
 */
export function decodePageToken<A>(
  token: string,
  filter: object,
  isKey: (value: unknown) => value is A,
): A | undefined {
  if (token === "") return undefined;
  let parsed: Token;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as Token;
  } catch {
    return invalidToken("is not a token this service issued");
  }
  if (JSON.stringify(parsed?.f) !== JSON.stringify(filter)) {
    invalidToken("was issued for different filters");
  }
  if (!isKey(parsed.a)) invalidToken("is not a token this service issued");
  return parsed.a;
}
