// The framing of a Connect, gRPC or gRPC-Web request body: which protocol and codec a content
// type means, the 5-byte envelopes, and decompression with a bound (issue 11 fixes 5 and 6:
// frame flags with reserved bits, truncated frames and compression lies are the client's fault).
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import type { WireProblem } from "./strict-binary.js";

/** How a request body is framed and encoded. */
export interface BodyFormat {
  /** Enveloped (gRPC, gRPC-Web, Connect streaming) or the raw message (Connect unary). */
  readonly enveloped: boolean;
  readonly json: boolean;
  /** The header naming the request's compression. */
  readonly encodingHeader: string;
}

/** The body format of a content type, or undefined when Connect will refuse it anyway. */
export function bodyFormat(contentType: string): BodyFormat | undefined {
  const type = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  const m =
    /^application\/(?:(grpc-web|grpc)(?:\+(proto|json))?|connect\+(proto|json)|(proto|json))$/.exec(
      type,
    );
  if (m === null) return undefined;
  const [, grpc, grpcCodec, streamCodec, unaryCodec] = m;
  if (grpc !== undefined) {
    return { enveloped: true, json: grpcCodec === "json", encodingHeader: "grpc-encoding" };
  }
  if (streamCodec !== undefined) {
    return {
      enveloped: true,
      json: streamCodec === "json",
      encodingHeader: "connect-content-encoding",
    };
  }
  return { enveloped: false, json: unaryCodec === "json", encodingHeader: "content-encoding" };
}

/** Decompresses with a bound; a problem when the data is not what the header claims. */
export function decompress(
  data: Uint8Array,
  encoding: string,
  maxBytes: number,
): Uint8Array | WireProblem | "too-large" {
  try {
    if (encoding === "gzip") return gunzipSync(data, { maxOutputLength: maxBytes });
    if (encoding === "br") return brotliDecompressSync(data, { maxOutputLength: maxBytes });
  } catch (error) {
    if ((error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") return "too-large";
    return { message: `body does not decompress as ${encoding}: ${(error as Error).message}` };
  }
  return { message: `unsupported compression "${encoding}"` };
}

/** One message in a 5-byte envelope with the given flags. */
export function envelope(payload: Uint8Array, flags = 0): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
}

/**
 * The single message of an enveloped unary request body, or what is wrong with its framing:
 * flags other than "compressed", a length past the end, no message or more than one.
 */
export function singleEnvelope(
  body: Uint8Array,
): { readonly payload: Uint8Array; readonly compressed: boolean } | WireProblem {
  if (body.length < 5) {
    return { message: body.length === 0 ? "request has no message" : "truncated frame header" };
  }
  const flags = body[0] as number;
  if ((flags & ~0x01) !== 0) {
    return {
      message: `frame flags 0x${flags.toString(16).padStart(2, "0")} set reserved bits (only 0x01, compressed, is defined for requests)`,
    };
  }
  const length = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(1);
  if (length > body.length - 5) {
    return { message: `frame declares ${length} bytes but carries ${body.length - 5}` };
  }
  if (5 + length !== body.length) {
    return { message: "a unary request carries exactly one message; found data after it" };
  }
  return { payload: body.subarray(5, 5 + length), compressed: (flags & 0x01) !== 0 };
}
