// A raw HTTP/2 client for frame-level assertions: it writes its own preface, SETTINGS, HEADERS
// (HPACK literals, no Huffman) and DATA over TLS with ALPN h2, and records every frame the
// server sends, decoding header blocks as far as a minimal HPACK decoder can.
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import type { Identity } from "../e2e/harness.js";

export const FRAME = {
  DATA: 0x0,
  HEADERS: 0x1,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 };

/** One frame as it came off the wire. */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** A header field; `value` or `name` is undefined when it was Huffman-encoded. */
export interface HeaderField {
  readonly name: string | undefined;
  readonly value: string | undefined;
}

/** An open raw HTTP/2 connection. */
export interface RawH2 {
  /** Every frame received so far, in order. */
  readonly frames: Frame[];
  /** Sends a request: HEADERS (END_HEADERS), then one DATA frame with END_STREAM. */
  request(streamId: number, headers: readonly [string, string][], body: Buffer): void;
  /** Resolves once `done()` holds on the received frames (rejects after `timeoutMs`). */
  until(done: (frames: readonly Frame[]) => boolean, timeoutMs?: number): Promise<void>;
  /** Decodes a header block the server sent (in order of arrival, for its dynamic table). */
  decodeHeaders(frame: Frame): HeaderField[];
  close(): void;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** Opens a TLS connection with ALPN h2, sends the preface and SETTINGS, and answers SETTINGS. */
export async function openRawH2(port: number, ca: string, identity: Identity): Promise<RawH2> {
  const socket: TLSSocket = await new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      ca,
      cert: identity.cert,
      key: identity.key,
      ALPNProtocols: ["h2"],
    });
    s.once("secureConnect", () => resolve(s));
    s.once("error", reject);
  });
  if (socket.alpnProtocol !== "h2") throw new Error(`ALPN chose ${socket.alpnProtocol}`);
  const frames: Frame[] = [];
  const waiters = new Set<() => void>();
  let pending = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 9) {
      const length = pending.readUIntBE(0, 3);
      if (pending.length < 9 + length) break;
      const frame: Frame = {
        type: pending[3] as number,
        flags: pending[4] as number,
        streamId: pending.readUInt32BE(5) & 0x7fffffff,
        payload: pending.subarray(9, 9 + length),
      };
      pending = pending.subarray(9 + length);
      frames.push(frame);
      if (frame.type === FRAME.SETTINGS && (frame.flags & FLAG.ACK) === 0)
        socket.write(frameBytes(FRAME.SETTINGS, FLAG.ACK, 0, Buffer.alloc(0)));
    }
    for (const wake of [...waiters]) wake();
  });
  socket.on("error", () => {});
  socket.write(Buffer.concat([PREFACE, frameBytes(FRAME.SETTINGS, 0, 0, Buffer.alloc(0))]));

  const decoder = createHpackDecoder();
  const decoded = new Map<Frame, HeaderField[]>();
  return {
    frames,
    request(streamId, headers, body) {
      const block = Buffer.concat(headers.map(([n, v]) => literal(n, v)));
      socket.write(
        Buffer.concat([
          frameBytes(FRAME.HEADERS, FLAG.END_HEADERS, streamId, block),
          frameBytes(FRAME.DATA, FLAG.END_STREAM, streamId, body),
        ]),
      );
    },
    until(done, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!done(frames)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out; frames: ${JSON.stringify(frames.map(describe))}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    decodeHeaders(frame) {
      // Blocks must go through the decoder in arrival order, each once.
      for (const f of frames) {
        if (f.type !== FRAME.HEADERS || decoded.has(f)) continue;
        decoded.set(f, decoder(headerBlock(f)));
        if (f === frame) break;
      }
      return decoded.get(frame) ?? [];
    },
    close: () => socket.destroy(),
  };
}

/** A short description of a frame for messages. */
export function describe(frame: Frame): string {
  const name = Object.entries(FRAME).find(([, t]) => t === frame.type)?.[0] ?? frame.type;
  return `${name} stream=${frame.streamId} flags=0x${frame.flags.toString(16)} len=${frame.payload.length}`;
}

function frameBytes(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/** The header block fragment of a HEADERS frame, without padding and priority. */
function headerBlock(frame: Frame): Buffer {
  let start = 0;
  let end = frame.payload.length;
  if (frame.flags & FLAG.PADDED) {
    start = 1;
    end -= frame.payload[0] as number;
  }
  if (frame.flags & FLAG.PRIORITY) start += 5;
  return frame.payload.subarray(start, end);
}

/** HPACK literal header field without indexing, new name, no Huffman (RFC 7541 §6.2.2). */
function literal(name: string, value: string): Buffer {
  const n = Buffer.from(name, "latin1");
  const v = Buffer.from(value, "latin1");
  return Buffer.concat([Buffer.from([0]), integer(n.length, 7, 0), n, integer(v.length, 7, 0), v]);
}

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1). */
function integer(value: number, prefixBits: number, firstByteFlags: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByteFlags | value]);
  const bytes = [firstByteFlags | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

// RFC 7541 Appendix A.
const STATIC_TABLE: readonly [string, string][] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

/**
 * A minimal HPACK decoder: static and dynamic tables and every representation, but
 * Huffman-coded strings stay undefined and the dynamic table never evicts (the server's 4 KiB
 * table does not fill in the few responses a test reads).
 */
function createHpackDecoder(): (block: Buffer) => HeaderField[] {
  const dynamic: HeaderField[] = [];
  const entry = (index: number): HeaderField => {
    if (index >= 1 && index <= STATIC_TABLE.length) {
      const [name, value] = STATIC_TABLE[index - 1] as [string, string];
      return { name, value };
    }
    const field = dynamic[index - STATIC_TABLE.length - 1];
    if (field === undefined) throw new Error(`HPACK index ${index} out of range`);
    return field;
  };
  return (block) => {
    let at = 0;
    const readInt = (prefixBits: number): number => {
      const max = (1 << prefixBits) - 1;
      let value = (block[at++] as number) & max;
      if (value < max) return value;
      for (let shift = 0; ; shift += 7) {
        const byte = block[at++] as number;
        value += (byte & 0x7f) * 2 ** shift;
        if ((byte & 0x80) === 0) return value;
      }
    };
    const readString = (): string | undefined => {
      const huffman = ((block[at] as number) & 0x80) !== 0;
      const length = readInt(7);
      const bytes = block.subarray(at, at + length);
      at += length;
      return huffman ? undefined : bytes.toString("latin1");
    };
    const fields: HeaderField[] = [];
    while (at < block.length) {
      const byte = block[at] as number;
      if (byte & 0x80) {
        fields.push(entry(readInt(7)));
      } else if ((byte & 0xe0) === 0x20) {
        readInt(5); // dynamic table size update; this decoder never evicts
      } else {
        const incremental = (byte & 0xc0) === 0x40;
        const index = readInt(incremental ? 6 : 4);
        const name = index === 0 ? readString() : entry(index).name;
        const field = { name, value: readString() };
        fields.push(field);
        if (incremental) dynamic.unshift(field);
      }
    }
    return fields;
  };
}
