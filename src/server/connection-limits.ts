// Bounds on what peers may hold (issue 11): connections in total and per client certificate,
// the TLS handshake, idle HTTP/2 sessions, requests that deliver their headers or body too
// slowly, and response bytes buffered for peers that do not read. Each bound is a flag
// (src/config/service-config.ts) and each enforcement is counted in a metric.
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  constants,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2Session,
  type Http2Stream,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import type { TLSSocket } from "node:tls";
import { Counter, Gauge, type Registry } from "prom-client";
import type { ConnectionLimits } from "../config/service-config.js";

/** How often buffered bytes are summed; a peer can outgrow its bound for at most this long. */
const SWEEP_MS = 100;

/**
 * A connection holding fewer streams than this gets new ones however many are in flight, so a
 * flood on other connections never locks out a client sending one request at a time.
 */
const RESERVED_STREAMS = 2;

/** The options of `createSecureServer` that the limits set. */
export function listenerOptions(limits: ConnectionLimits): {
  handshakeTimeout: number;
  settings: { maxConcurrentStreams: number };
} {
  // nghttp2 refuses streams beyond SETTINGS_MAX_CONCURRENT_STREAMS with RST_STREAM before
  // Node creates anything for them: the cheapest refusal there is.
  return {
    handshakeTimeout: limits.handshakeTimeoutMs,
    settings: { maxConcurrentStreams: limits.maxStreamsPerConnection },
  };
}

/** The running enforcement; `stop` ends its timer. */
export interface ConnectionLimiter {
  stop(): void;
  /**
   * Bounds a stream answered on the stream API (lean-path.ts), which Node's 'request' event
   * never sees: its body must arrive within --request-timeout.
   */
  guardStream(stream: ServerHttp2Stream): void;
  /** Checks the buffer bounds before `size` bytes are written on `session` (as guardWrites). */
  beforeWrite(session: Http2Session | undefined, size: number): void;
}

type Reason =
  | "total"
  | "per_peer"
  | "handshake_timeout"
  | "idle"
  | "request_timeout"
  | "buffer_limit"
  | "streams"
  | "stalled";

/** Enforces `limits` on `server` and registers their metrics on `registry`. */
export function applyConnectionLimits(
  server: Http2SecureServer,
  limits: ConnectionLimits,
  registry: Registry,
): ConnectionLimiter {
  const open = new Set<TLSSocket>();
  const perPeer = new Map<string, number>();
  const sessionStreams = new Map<ServerHttp2Session, Set<Http2Stream>>();
  const closed = new Counter({
    name: "nixfleet_cp_connections_closed_total",
    help: "Connections or streams refused or closed by a resource bound: total, per_peer (--max-connections[-per-peer]), handshake_timeout, idle, request_timeout, buffer_limit, stalled (nothing read for --request-timeout with answers pending); streams counts HTTP/2 streams refused beyond --max-streams.",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  new Gauge({
    name: "nixfleet_cp_connections_open",
    help: "Open TLS connections (bounded by --max-connections).",
    registers: [registry],
    collect() {
      this.set(open.size);
    },
  });
  new Gauge({
    name: "nixfleet_cp_buffered_response_bytes",
    help: "Response bytes buffered for peers that have not read them (bounded by --max-buffered-bytes).",
    registers: [registry],
    collect() {
      this.set(sweep(false));
    },
  });
  let streamsInFlight = 0;
  new Gauge({
    name: "nixfleet_cp_streams_in_flight",
    help: "HTTP/2 streams open on all connections (bounded by --max-streams).",
    registers: [registry],
    collect() {
      this.set(streamsInFlight);
    },
  });
  const count = (reason: Reason) => closed.inc({ reason });

  // Beyond --max-connections Node closes new TCP connections at accept, before any TLS work.
  server.maxConnections = limits.maxConnections;
  server.on("drop", () => count("total"));
  server.on("tlsClientError", (error: NodeJS.ErrnoException) => {
    if (error.code === "ERR_TLS_HANDSHAKE_TIMEOUT") count("handshake_timeout");
  });
  server.on("secureConnection", (socket: TLSSocket) => {
    const peer = peerName(socket);
    const held = perPeer.get(peer) ?? 0;
    if (held >= limits.maxConnectionsPerPeer) {
      count("per_peer");
      socket.destroy();
      return;
    }
    perPeer.set(peer, held + 1);
    open.add(socket);
    socket.once("close", () => {
      open.delete(socket);
      const n = (perPeer.get(peer) ?? 1) - 1;
      if (n <= 0) perPeer.delete(peer);
      else perPeer.set(peer, n);
    });
  });

  server.on("session", (session: ServerHttp2Session) => {
    const streams = new Set<Http2Stream>();
    sessionStreams.set(session, streams);
    session.once("close", () => {
      sessionStreams.delete(session);
      progress.delete(session);
    });
    // An HTTP/2 session holding no stream is idle; one holding a stream (a watch) is not.
    session.setTimeout(limits.idleTimeoutMs, () => {
      if (streams.size > 0) return;
      count("idle");
      session.close();
      setTimeout(() => session.destroy(), 1000).unref();
    });
    // Node's own 'stream' listener builds the request and response objects and runs the
    // handler. It runs only for admitted streams: a refused one costs an RST_STREAM
    // (REFUSED_STREAM, which clients may retry) and nothing more.
    const dispatch = session.listeners("stream") as ((...args: unknown[]) => void)[];
    session.removeAllListeners("stream");
    session.on("stream", (stream: Http2Stream, ...rest: unknown[]) => {
      if (streamsInFlight >= limits.maxStreams && streams.size >= RESERVED_STREAMS) {
        count("streams");
        // Closing with an error code emits 'error' on the stream; nobody else listens to it.
        stream.on("error", () => {});
        stream.close(constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      streamsInFlight++;
      streams.add(stream);
      stream.once("close", () => {
        streamsInFlight--;
        streams.delete(stream);
        // Re-arm the idle timer: it fired (and was ignored) while the stream was open.
        if (streams.size === 0 && !session.destroyed) session.setTimeout(limits.idleTimeoutMs);
      });
      for (const listener of dispatch) listener.call(session, stream, ...rest);
    });
  });
  // HTTP/1.1 connections (allowHTTP1) use the http module's own timers.
  const h1 = server as unknown as {
    headersTimeout: number;
    requestTimeout: number;
    keepAliveTimeout: number;
  };
  h1.headersTimeout = limits.requestTimeoutMs;
  h1.requestTimeout = limits.requestTimeoutMs;
  h1.keepAliveTimeout = Math.min(5000, limits.idleTimeoutMs);

  // A request must deliver its headers and body within --request-timeout; responses (a watch)
  // may then last as long as they need.
  server.on("request", (req: IncomingMessage | Http2ServerRequest, res: ServerResponse) => {
    if ("stream" in req) guardWrites(req.stream.session as ServerHttp2Session | undefined, res);
    if (req.complete) return;
    const clear = requestTimer(() => {
      if ("stream" in req) req.stream.close(constants.NGHTTP2_CANCEL);
      else req.socket.destroy();
    });
    req.once("end", clear);
    req.once("close", clear);
    res.once("close", clear);
  });

  // Counts and runs `expire` unless the returned function is called within --request-timeout.
  function requestTimer(expire: () => void): () => void {
    const timer = setTimeout(() => {
      count("request_timeout");
      expire();
    }, limits.requestTimeoutMs);
    timer.unref();
    return () => clearTimeout(timer);
  }

  // Checked as each response chunk is written, not only by the sweep: one read can carry a
  // hundred requests whose answers would outgrow the bound long before the next sweep.
  let approxTotal = 0;
  function guardWrites(session: ServerHttp2Session | undefined, res: ServerResponse): void {
    if (session === undefined) return;
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    (res as { write: (...args: unknown[]) => boolean }).write = (...args: unknown[]) => {
      const chunk = args[0] as string | Uint8Array;
      beforeWrite(session, typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.byteLength);
      // On a destroyed stream this fails the write, which ends the response's pipeline.
      return write(...args);
    };
  }
  function beforeWrite(session: Http2Session | undefined, size: number): void {
    approxTotal += size;
    if (session === undefined || session.destroyed) return;
    let held = size;
    const streams = sessionStreams.get(session as ServerHttp2Session) ?? [];
    for (const stream of streams) held += bufferedBytes(stream);
    if (held > limits.maxBufferedBytesPerPeer) {
      count("buffer_limit");
      session.destroy();
    } else if (approxTotal > limits.maxBufferedBytes) {
      // Over the total: the largest holders go, which need not be this writer.
      sweep(true);
    }
  }

  // Sums what each session has buffered for its peer; with `enforce`, closes sessions over the
  // per-peer bound, then the largest holders until the total is under its bound.
  // With answers pending, the bytes written to a session's socket when they last grew: a peer
  // that reads nothing for --request-timeout holds its streams (and their share of
  // --max-streams) for nothing, so it is closed however little it holds.
  const progress = new Map<ServerHttp2Session, { written: number; at: number }>();
  function sweep(enforce: boolean): number {
    const sizes: [ServerHttp2Session, number][] = [];
    let total = 0;
    const now = Date.now();
    for (const [session, streams] of sessionStreams) {
      let size = 0;
      for (const stream of streams) size += bufferedBytes(stream);
      if (size === 0) {
        progress.delete(session);
        continue;
      }
      if (enforce && size > limits.maxBufferedBytesPerPeer) {
        count("buffer_limit");
        session.destroy();
        continue;
      }
      if (enforce) {
        const written = session.socket?.bytesWritten ?? 0;
        const last = progress.get(session);
        if (last === undefined || written > last.written) {
          progress.set(session, { written, at: now });
        } else if (now - last.at >= limits.requestTimeoutMs) {
          count("stalled");
          progress.delete(session);
          session.destroy();
          continue;
        }
      }
      total += size;
      sizes.push([session, size]);
    }
    if (enforce) approxTotal = total;
    if (enforce && total > limits.maxBufferedBytes) {
      sizes.sort((a, b) => b[1] - a[1]);
      for (const [session, size] of sizes) {
        if (total <= limits.maxBufferedBytes) break;
        count("buffer_limit");
        session.destroy();
        total -= size;
      }
    }
    return total;
  }
  const sweeper = setInterval(() => sweep(true), SWEEP_MS);
  sweeper.unref();

  return {
    stop() {
      clearInterval(sweeper);
    },
    guardStream(stream) {
      if (stream.readableEnded) return;
      const clear = requestTimer(() => stream.close(constants.NGHTTP2_CANCEL));
      stream.once("end", clear);
      stream.once("close", clear);
    },
    beforeWrite,
  };
}

// Node's Http2Stream.bufferSize counts bytes queued in JS and in the session not yet sent.
function bufferedBytes(stream: Http2Stream): number {
  const size = (stream as unknown as { bufferSize?: number }).bufferSize;
  return typeof size === "number" ? size : stream.writableLength;
}

function peerName(socket: TLSSocket): string {
  const cert = socket.getPeerCertificate();
  const cn = cert?.subject?.CN;
  return Array.isArray(cn) ? (cn[0] ?? "") : (cn ?? "");
}
