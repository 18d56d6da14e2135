// gRPC status fields (grpc-status, grpc-message, grpc-status-details-bin, error metadata) as the
// gRPC spec writes them: grpc-message percent-encoded only where the spec asks.
import type { ConnectError } from "@connectrpc/connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";

const GRPC_MESSAGE = "grpc-message";
// Printable ASCII except '%': what the spec lets through unescaped.
const PLAIN = /^[\x20-\x24\x26-\x7e]*$/;
const utf8 = new TextEncoder();

/**
 * Percent-encodes a status message as the gRPC spec requires: the UTF-8 bytes outside
 * 0x20-0x7E and '%' itself become %XX, everything else stays literal. (Connect writes
 * encodeURIComponent, which also escapes ':', '@', ';', '/', and @grpc/grpc-js, decoding with
 * decodeURI, then shows `%3A` and `%40` to its users.)
 */
export function encodeGrpcMessage(message: string): string {
  if (PLAIN.test(message)) return message;
  let out = "";
  for (const byte of utf8.encode(message)) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * Rewrites a grpc-message that Connect encoded with encodeURIComponent into the spec's
 * encoding, in place (a no-op on a value already in it). Returns `fields`.
 */
export function respecGrpcMessage(fields: Headers): Headers {
  const value = fields.get(GRPC_MESSAGE);
  if (value === null || PLAIN.test(value)) return fields;
  try {
    fields.set(GRPC_MESSAGE, encodeGrpcMessage(decodeURIComponent(value)));
  } catch {
    // Not percent-encoding at all: leave it as it is.
  }
  return fields;
}

/** The status fields of `error` (Trailers-Only headers or trailers), spec-encoded. */
export function grpcStatusFields(error: ConnectError): Headers {
  const fields = setTrailerStatus(new Headers(), error);
  fields.set(GRPC_MESSAGE, encodeGrpcMessage(error.rawMessage));
  return fields;
}
