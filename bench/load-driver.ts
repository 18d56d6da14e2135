// The load driver: one mTLS HTTP/2 session per simulated host (its own agent certificate),
// several lanes (one per rollout the host is in) streaming concurrently on that session, each
// lane posting its events strictly in seq order. Closed-loop (as fast as answered) or
// open-loop at a fixed rate, with latency measured from the intended send time.
import { type ClientHttp2Session, constants } from "node:http2";
import { performance } from "node:perf_hooks";
import { classifyBatch } from "./post-events-format.js";
import type { SessionPool } from "./session-pool.js";
import { classify, type EncodedRequest, type Protocol, type Verdict } from "./wire-format.js";

/** What one phase sends: per host, the request sequences of its lanes, in start order. */
export interface Workload {
  /**
   * How requests were framed; "heartbeat": the heartbeat binding (200 is ok); "post-events":
   * PostEvents batches over Connect binary, one verdict per event.
   */
  readonly protocol: Protocol | "heartbeat" | "post-events";
  /** sequences[h][k]: the k-th lane of host h (one rollout), its events in seq order. */
  readonly sequences: readonly (readonly (readonly EncodedRequest[])[])[];
  /** Lanes of one host in flight at once (streams per session). */
  readonly lanesPerHost: number;
  /** Start over from the first sequence when a host runs out (servers that keep no state). */
  readonly recycle: boolean;
}

/** How hard and how long to push. */
export interface PhasePlan {
  /** "closed": every lane sends its next event as soon as the last is answered. */
  readonly load: "closed" | { readonly rate: number };
  /** Not measured: lets the server reach a steady state (JIT, batch sizes, caches). */
  readonly warmupMs: number;
  /** Measured window; Infinity means until every sequence is done (bounded count). */
  readonly durationMs: number;
  /** Safety stop for count-bounded phases. */
  readonly maxMs?: number;
  /** Called synchronously at the window's edges, e.g. to read the server's CPU time. */
  readonly onWindowStart?: () => void;
  readonly onWindowEnd?: () => void;
  /** Called for every ok answer, in or out of the window (e.g. to note what was acknowledged). */
  readonly onOk?: (request: EncodedRequest) => void;
}

/** Answers counted inside the measured window. */
export interface VerdictCounts {
  ok: number;
  shed: number;
  duplicate: number;
  error: number;
}

/** What a phase measured. */
export interface PhaseResult {
  readonly windowMs: number;
  /** Requests sent inside the window. */
  readonly sent: number;
  /** Answers by verdict, one per request. */
  readonly counts: VerdictCounts;
  /** Events by verdict: the same as counts, except for PostEvents (a verdict per event). */
  readonly eventCounts: VerdictCounts;
  /** Latencies (ms) of ok answers in the window, sorted ascending. */
  readonly okLatencies: Float64Array;
  /**
   * Latencies (ms) of ok answers from the moment the request was actually written, sorted:
   * the server's part alone, without time spent waiting in the driver for a free lane.
   */
  readonly okServiceLatencies: Float64Array;
  /** Open loop: requests that found no idle lane and waited in the driver (at most). */
  readonly maxBacklog: number;
  /** Open loop: requests dropped because the driver's backlog was full. */
  readonly unsent: number;
  /** Lanes that ran out of events before the end (the phase had too few rollouts). */
  readonly dryHosts: number;
  /** The driver's own CPU per answered request in the window, microseconds. */
  readonly driverCpuUsPerRequest: number;
  /** A few error answers, for diagnosis. */
  readonly errorSamples: string[];
}

interface Lane {
  readonly host: number;
  requests: readonly EncodedRequest[];
  pos: number;
}

/** Runs one phase over open sessions and resolves once every request sent was answered. */
export function runPhase(
  pool: SessionPool,
  workload: Workload,
  plan: PhasePlan,
): Promise<PhaseResult> {
  const { protocol, sequences, lanesPerHost, recycle } = workload;
  const hostCount = Math.min(pool.sessions.length, sequences.length);
  const nextSequence = new Array<number>(hostCount).fill(0);
  const counts: VerdictCounts = { ok: 0, shed: 0, duplicate: 0, error: 0 };
  const eventCounts: VerdictCounts = { ok: 0, shed: 0, duplicate: 0, error: 0 };
  const batched = protocol === "post-events";
  let latencies = new Float64Array(1 << 16);
  let serviceLatencies = new Float64Array(1 << 16);
  let latencyCount = 0;
  const errorSamples: string[] = [];
  const dry = new Set<number>();
  const open = plan.load === "closed" ? undefined : plan.load.rate;

  let inWindow = false;
  let stopping = false;
  let sent = 0;
  let inflight = 0;
  let windowStart = 0;
  let windowEnd = 0;
  let cpuStart = process.cpuUsage();
  let cpuUs = 0;

  // Lanes with an event to send and nothing in flight (open loop), FIFO so that load spreads
  // over every host's session rather than hammering the most recently answered one.
  const laneCapacity = hostCount * lanesPerHost;
  const idle: (Lane | undefined)[] = new Array(laneCapacity);
  let idleHead = 0;
  let idleCount = 0;
  const pushIdle = (lane: Lane) => {
    idle[(idleHead + idleCount) % laneCapacity] = lane;
    idleCount++;
  };
  const popIdle = (): Lane | undefined => {
    if (idleCount === 0) return undefined;
    const lane = idle[idleHead];
    idle[idleHead] = undefined;
    idleHead = (idleHead + 1) % laneCapacity;
    idleCount--;
    return lane;
  };
  // Intended send times of requests that found no idle lane; bounded, then dropped.
  const backlog: number[] = [];
  let backlogHead = 0;
  const backlogLimit = Math.max(1000, laneCapacity * 4);
  let maxBacklog = 0;
  let unsent = 0;

  function takeSequence(host: number): readonly EncodedRequest[] | undefined {
    const list = sequences[host] as readonly (readonly EncodedRequest[])[];
    let k = nextSequence[host] as number;
    if (k >= list.length) {
      if (!recycle || list.length === 0) return undefined;
      k = 0;
    }
    nextSequence[host] = k + 1;
    return list[k];
  }

  function recordLatency(ms: number, serviceMs: number): void {
    if (latencyCount === latencies.length) {
      const bigger = new Float64Array(latencies.length * 2);
      bigger.set(latencies);
      latencies = bigger;
      const biggerService = new Float64Array(serviceLatencies.length * 2);
      biggerService.set(serviceLatencies);
      serviceLatencies = biggerService;
    }
    serviceLatencies[latencyCount] = serviceMs;
    latencies[latencyCount++] = ms;
  }

  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });
  const maybeDone = () => {
    if (stopping && inflight === 0) resolveDone();
  };

  function send(lane: Lane, intended: number): void {
    const request = lane.requests[lane.pos] as EncodedRequest;
    const sentAt = performance.now();
    const session = pool.sessions[lane.host] as ClientHttp2Session;
    if (inWindow) sent++;
    inflight++;
    let status = 0;
    let grpcStatus = -1;
    let firstChunk: Buffer | undefined;
    // A batch's verdicts may span DATA frames; single answers are told by their first bytes.
    let chunks: Buffer[] | undefined;
    const stream = session.request(request.headers);
    stream.on("response", (headers) => {
      status = Number(headers[":status"]);
      const g = headers["grpc-status"];
      if (g !== undefined) grpcStatus = Number(g);
    });
    stream.on("trailers", (trailers) => {
      const g = trailers["grpc-status"];
      if (g !== undefined) grpcStatus = Number(g);
    });
    stream.on("data", (chunk: Buffer) => {
      if (firstChunk === undefined) firstChunk = chunk;
      else if (batched) {
        chunks ??= [firstChunk];
        chunks.push(chunk);
      }
    });
    stream.on("error", () => {});
    stream.on("close", () => {
      inflight--;
      const now = performance.now();
      let verdict: Verdict;
      let perEvent: VerdictCounts | undefined;
      if (protocol === "post-events") {
        const body = chunks === undefined ? firstChunk : Buffer.concat(chunks);
        const batch = classifyBatch(status, body, request.events ?? 1);
        verdict = batch.call;
        perEvent = batch.events;
      } else {
        verdict =
          stream.rstCode !== constants.NGHTTP2_NO_ERROR && status === 0
            ? "error"
            : classify(protocol, { status, grpcStatus, firstChunk });
      }
      if (status === 0) verdict = "error";
      // REFUSED_STREAM before any answer: the server's stream bound (RFC 9113 §8.7: not
      // processed, safe to retry), backpressure like a shed answer; agents retry it too.
      if (status === 0 && stream.rstCode === constants.NGHTTP2_REFUSED_STREAM) {
        verdict = "shed";
        perEvent = undefined;
      }
      if (verdict === "ok") plan.onOk?.(request);
      if (inWindow) {
        counts[verdict]++;
        if (perEvent === undefined) eventCounts[verdict]++;
        else {
          eventCounts.ok += perEvent.ok;
          eventCounts.duplicate += perEvent.duplicate;
          eventCounts.error += perEvent.error;
          eventCounts.shed += perEvent.shed;
        }
        if (verdict === "ok") recordLatency(now - intended, now - sentAt);
        if (verdict === "error" && errorSamples.length < 5) {
          errorSamples.push(
            `status ${status} grpc ${grpcStatus} rst ${stream.rstCode}: ${firstChunk?.toString("utf8", 0, 200) ?? ""}`,
          );
        }
      }
      finish(lane, verdict);
    });
    stream.end(request.body);
  }

  function finish(lane: Lane, verdict: Verdict): void {
    // A shed event is retried with the same seq (what agents do); an error ends the lane's
    // rollout, since every later event of it would be refused for the wrong state.
    if (verdict === "ok" || verdict === "duplicate") lane.pos++;
    if (stopping) {
      maybeDone();
      return;
    }
    if (verdict === "error" || lane.pos >= lane.requests.length) {
      const next = takeSequence(lane.host);
      if (next === undefined) {
        dry.add(lane.host);
        activeLanes--;
        if (activeLanes === 0) stop();
        return;
      }
      lane.requests = next;
      lane.pos = 0;
    }
    if (open === undefined) {
      send(lane, performance.now());
      return;
    }
    if (backlogHead < backlog.length) {
      const intended = backlog[backlogHead++] as number;
      if (backlogHead > 4096 && backlogHead * 2 > backlog.length) {
        backlog.splice(0, backlogHead);
        backlogHead = 0;
      }
      send(lane, intended);
      return;
    }
    pushIdle(lane);
  }

  let started = 0;
  let dispatched = 0;
  let activeLanes = 0;
  let timer: NodeJS.Timeout | undefined;

  function tick(): void {
    if (stopping || open === undefined) return;
    const now = performance.now();
    const due = Math.floor(((now - started) * open) / 1000);
    while (dispatched < due) {
      const intended = started + (dispatched * 1000) / open;
      dispatched++;
      const lane = popIdle();
      if (lane !== undefined) send(lane, intended);
      else if (backlog.length - backlogHead < backlogLimit) backlog.push(intended);
      else unsent++;
    }
    maxBacklog = Math.max(maxBacklog, backlog.length - backlogHead);
    timer = setTimeout(tick, 1);
  }

  function startWindow(): void {
    plan.onWindowStart?.();
    inWindow = true;
    windowStart = performance.now();
    cpuStart = process.cpuUsage();
  }

  function stop(): void {
    if (stopping) return;
    if (inWindow) {
      const cpu = process.cpuUsage(cpuStart);
      cpuUs = cpu.user + cpu.system;
      windowEnd = performance.now();
      inWindow = false;
      plan.onWindowEnd?.();
    }
    stopping = true;
    if (timer !== undefined) clearTimeout(timer);
    maybeDone();
  }

  started = performance.now();
  const lanes: Lane[] = [];
  for (let h = 0; h < hostCount; h++) {
    for (let k = 0; k < lanesPerHost; k++) {
      const requests = takeSequence(h);
      if (requests === undefined) break;
      lanes.push({ host: h, requests, pos: 0 });
    }
  }
  activeLanes = lanes.length;
  if (activeLanes === 0) stop();
  if (plan.warmupMs <= 0) startWindow();
  if (open === undefined) for (const lane of lanes) send(lane, performance.now());
  else {
    for (const lane of lanes) pushIdle(lane);
    tick();
  }
  const windowTimer = setTimeout(startWindow, Math.max(0, plan.warmupMs));
  const endAfter =
    plan.durationMs === Number.POSITIVE_INFINITY
      ? (plan.maxMs ?? 600_000)
      : plan.warmupMs + plan.durationMs;
  const endTimer = setTimeout(stop, endAfter);

  return done.then(() => {
    clearTimeout(windowTimer);
    clearTimeout(endTimer);
    const answered = counts.ok + counts.shed + counts.duplicate + counts.error;
    const sorted = latencies.slice(0, latencyCount).sort();
    const sortedService = serviceLatencies.slice(0, latencyCount).sort();
    return {
      windowMs: windowEnd - windowStart,
      sent,
      counts,
      eventCounts,
      okLatencies: sorted,
      okServiceLatencies: sortedService,
      maxBacklog,
      unsent,
      dryHosts: plan.durationMs === Number.POSITIVE_INFINITY ? 0 : dry.size,
      driverCpuUsPerRequest: answered > 0 ? cpuUs / answered : 0,
      errorSamples,
    };
  });
}

/** The q-quantile (0..1) of sorted values, or NaN when empty. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}
