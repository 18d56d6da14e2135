// Raw requests over mTLS HTTP/2 for the hostile tests: any bytes, any headers, and the answer
// with its status, headers, trailers and the Connect/gRPC code it carries.
import { type ClientHttp2Session, connect } from "node:http2";
import type { Identity } from "../e2e/harness.js";

/** What came back. */
export interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly trailers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** One HTTP/2 session reused for many requests. */
export interface RawClient {
  send(request: RawRequest): Promise<RawAnswer>;
  close(): void;
}

export interface RawRequest {
  readonly path: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array | string;
}

/** Opens a session presenting `identity`. */
export function rawClient(url: string, ca: string, identity: Identity): RawClient {
  let session: ClientHttp2Session | undefined;
  const open = () => {
    if (session === undefined || session.closed || session.destroyed) {
      session = connect(url, { ca, cert: identity.cert, key: identity.key });
      session.on("error", () => {});
    }
    return session;
  };
  return {
    send(request) {
      return new Promise((resolve, reject) => {
        const stream = open().request({
          ":method": request.method ?? "POST",
          ":path": request.path,
          ...request.headers,
        });
        let status = 0;
        let headers: RawAnswer["headers"] = {};
        let trailers: RawAnswer["trailers"] = {};
        const chunks: Buffer[] = [];
        stream.on("response", (h) => {
          status = Number(h[":status"]);
          headers = h as RawAnswer["headers"];
        });
        stream.on("trailers", (t) => {
          trailers = t as RawAnswer["trailers"];
        });
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => resolve({ status, headers, trailers, body: Buffer.concat(chunks) }));
        stream.on("error", reject);
        stream.setTimeout(20_000, () => stream.close());
        // GET and HEAD streams are ended by the request itself.
        if (!stream.writable) return;
        stream.end(request.body === undefined ? undefined : Buffer.from(request.body));
      });
    },
    close() {
      session?.close();
    },
  };
}

/** The Connect code name of an answer, whatever its protocol (gRPC codes by number). */
export function codeOf(answer: RawAnswer): string {
  const grpc = answer.trailers["grpc-status"] ?? answer.headers["grpc-status"];
  if (grpc !== undefined) return GRPC_CODES[Number(grpc)] ?? `grpc-${String(grpc)}`;
  const type = String(answer.headers["content-type"] ?? "");
  if (type.startsWith("application/grpc-web")) {
    // gRPC-Web puts the trailers in a final frame flagged 0x80.
    const text = trailerFrame(answer.body);
    const m = /grpc-status:\s*(\d+)/i.exec(text);
    if (m) return GRPC_CODES[Number(m[1])] ?? `grpc-${m[1]}`;
  }
  if (answer.status === 200) return "ok";
  try {
    const json = JSON.parse(answer.body.toString("utf8")) as { code?: string };
    if (typeof json.code === "string") return json.code;
  } catch {
    // not JSON: fall through to the status
  }
  return `http-${answer.status}`;
}

/** The message of an error answer (Connect JSON body, grpc-message, or binding JSON). */
export function messageOf(answer: RawAnswer): string {
  const grpc = answer.trailers["grpc-message"] ?? answer.headers["grpc-message"];
  if (grpc !== undefined) return decodeURIComponent(String(grpc));
  const type = String(answer.headers["content-type"] ?? "");
  if (type.startsWith("application/grpc-web")) {
    const m = /grpc-message:\s*(.*)/i.exec(trailerFrame(answer.body));
    return m ? decodeURIComponent((m[1] ?? "").trim()) : "";
  }
  try {
    const json = JSON.parse(answer.body.toString("utf8")) as { message?: string };
    return json.message ?? "";
  } catch {
    return answer.body.toString("utf8");
  }
}

function trailerFrame(body: Buffer): string {
  let pos = 0;
  while (pos + 5 <= body.length) {
    const flags = body[pos] as number;
    const length = body.readUInt32BE(pos + 1);
    if ((flags & 0x80) !== 0) return body.subarray(pos + 5, pos + 5 + length).toString("utf8");
    pos += 5 + length;
  }
  return "";
}

const GRPC_CODES = [
  "ok",
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
];

/** A 5-byte envelope around `payload`. */
export function frame(payload: Uint8Array, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, Buffer.from(payload)]);
}

/** The headers of each protocol for a binary (or JSON) message. */
export const PROTOCOL_HEADERS = {
  "connect-proto": { "content-type": "application/proto", "connect-protocol-version": "1" },
  "connect-json": { "content-type": "application/json", "connect-protocol-version": "1" },
  grpc: { "content-type": "application/grpc", te: "trailers" },
  "grpc-web": { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
} as const;
