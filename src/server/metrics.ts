// Prometheus metrics (prom-client) on a registry of our own, so tests and several servers in
// one process never share counters. Labels are bounded: no per-host labels.
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { VERSION } from "../config/version.js";

/** Why a TLS handshake failed: a bounded set, so the counter's label cannot grow. */
export const HANDSHAKE_FAILURE_REASONS = [
  "no_certificate",
  "unknown_ca",
  "expired",
  "bad_certificate",
  "protocol",
  "timeout",
  "other",
] as const;
export type HandshakeFailureReason = (typeof HANDSHAKE_FAILURE_REASONS)[number];

/** Reads per-rollout host counts by state at scrape time. */
export type HostCountSource = () => Promise<
  readonly { rolloutId: string; state: string; count: number }[]
>;

/** The service's metrics. */
export interface Metrics {
  readonly registry: Registry;
  /** RPCs (Connect, gRPC, gRPC-Web) by method, protocol and Connect code name. */
  readonly requests: Counter<"rpc" | "protocol" | "code">;
  /** The HTTP JSON binding's answers by route and HTTP status. */
  readonly httpRequests: Counter<"route" | "status">;
  readonly tlsHandshakeFailures: Counter<"reason">;
  readonly tlsReloads: Counter<"result">;
  /** The serving certificate's notAfter, seconds since the epoch. */
  readonly tlsCertificateNotAfter: Gauge;
  readonly events: Counter<"kind" | "outcome">;
  readonly refusals: Counter<"reason" | "protocol">;
  readonly batchSize: Histogram;
  readonly commitSeconds: Histogram;
  readonly reducerLagSeconds: Histogram;
  readonly batchFailures: Counter;
  readonly heartbeats: Counter<"outcome">;
  readonly synthesizedEvents: Counter<"kind">;
  readonly seqGapEvents: Counter;
  readonly missingSeqs: Counter;
  readonly livenessChanges: Counter<"to">;
  /** Sets the sources read at scrape time. */
  bind(sources: MetricSources): void;
}

/** Reads the heartbeating hosts and how many of them are unreachable, at scrape time. */
export type LivenessCountSource = () => Promise<{ unreachable: number; total: number }>;

/** What the gauges read at scrape time. */
export interface MetricSources {
  channelDepth: () => number;
  channelCapacity: number;
  hostCounts?: HostCountSource;
  livenessCounts?: LivenessCountSource;
}

/** Creates a fresh registry with every metric of the service. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  let sources: MetricSources | undefined;

  const requests = new Counter({
    name: "nixfleet_cp_requests_total",
    help: "RPCs answered (Connect, gRPC, gRPC-Web), by method, protocol and Connect code name.",
    labelNames: ["rpc", "protocol", "code"] as const,
    registers: [registry],
  });
  const httpRequests = new Counter({
    name: "nixfleet_cp_http_requests_total",
    help: "Requests answered by the HTTP JSON binding, by route and HTTP status.",
    labelNames: ["route", "status"] as const,
    registers: [registry],
  });
  const tlsHandshakeFailures = new Counter({
    name: "nixfleet_cp_tls_handshake_failures_total",
    help: "TLS handshakes the mTLS listener failed, by reason.",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  // Every reason is exported from the start, so a rate() over it has a baseline of 0.
  for (const reason of HANDSHAKE_FAILURE_REASONS) tlsHandshakeFailures.inc({ reason }, 0);
  const tlsReloads = new Counter({
    name: "nixfleet_cp_tls_reloads_total",
    help: "Reloads of the server certificate, key and client CA, by result (success, failure).",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  for (const result of ["success", "failure"]) tlsReloads.inc({ result }, 0);
  const tlsCertificateNotAfter = new Gauge({
    name: "nixfleet_cp_tls_certificate_not_after_seconds",
    help: "notAfter of the server certificate being served, in seconds since the epoch.",
    registers: [registry],
  });
  const events = new Counter({
    name: "nixfleet_cp_events_total",
    help: "PostEvent verdicts, and PostEvents' per event, by event kind and outcome (applied, duplicate, refused, not_found, rejected, shed, unavailable).",
    labelNames: ["kind", "outcome"] as const,
    registers: [registry],
  });
  const refusals = new Counter({
    name: "nixfleet_cp_refused_events_total",
    help: "Events refused and recorded in the refused-event log, by reason (not_found, illegal_for_state, invariant, probe_limit, unsafe_input, signature) and protocol (http-json, proto).",
    labelNames: ["reason", "protocol"] as const,
    registers: [registry],
  });
  new Gauge({
    name: "nixfleet_cp_channel_depth",
    help: "Events accepted and waiting for the reducer.",
    registers: [registry],
    collect() {
      this.set(sources?.channelDepth() ?? 0);
    },
  });
  new Gauge({
    name: "nixfleet_cp_channel_capacity",
    help: "Capacity of the ingest channel; a full channel sheds load with resource_exhausted.",
    registers: [registry],
    collect() {
      this.set(sources?.channelCapacity ?? 0);
    },
  });
  const batchSize = new Histogram({
    name: "nixfleet_cp_reducer_batch_size",
    help: "Events per reducer transaction.",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [registry],
  });
  const commitSeconds = new Histogram({
    name: "nixfleet_cp_commit_seconds",
    help: "Time to apply and commit one reducer batch.",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const reducerLagSeconds = new Histogram({
    name: "nixfleet_cp_reducer_lag_seconds",
    help: "How long the oldest event of a batch waited in the channel.",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const batchFailures = new Counter({
    name: "nixfleet_cp_reducer_batch_failures_total",
    help: "Reducer batches whose commit failed (their requests were answered unavailable).",
    registers: [registry],
  });
  // The usual build-info idiom: always 1, the version in a label, for joins and dashboards.
  new Gauge({
    name: "nixfleet_cp_build_info",
    help: "Always 1; the version label says which nixfleet-cp build is running.",
    labelNames: ["version"] as const,
    registers: [registry],
  }).set({ version: VERSION }, 1);
  new Gauge({
    name: "nixfleet_cp_hosts",
    help: "Host records by rollout and state (the most recently opened rollouts).",
    labelNames: ["rollout_id", "state"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of (await sources?.hostCounts?.()) ?? []) {
        this.set({ rollout_id: row.rolloutId, state: row.state }, row.count);
      }
    },
  });

  // Sampled by a native timer (unref'd, so it keeps no process alive) and reset at every
  // scrape: each scrape reports the delay since the previous one, which is what a benchmark
  // window or an alert on "the loop stalled in the last minute" wants. A p99 over an
  // arbitrary window cannot be rebuilt from cumulative buckets of a 10 ms sampler anyway.
  // The histogram records the interval between the sampler's runs, so the delay is that
  // interval minus the sampling period (an idle loop reads 0, not 10 ms).
  const resolutionMs = 10;
  const loopDelay = monitorEventLoopDelay({ resolution: resolutionMs });
  loopDelay.enable();
  const delaySeconds = (ns: number) => Math.max(0, ns / 1e6 - resolutionMs) / 1000;
  new Gauge({
    name: "nixfleet_cp_event_loop_delay_seconds",
    help: "Event-loop delay of the main thread since the previous scrape: how late perf_hooks.monitorEventLoopDelay's 10 ms sampler ran, by quantile (0.5, 0.99; 1 is the maximum); 0 when nothing was sampled.",
    labelNames: ["quantile"] as const,
    registers: [registry],
    collect() {
      const sampled = loopDelay.count > 0;
      const at = (p: number) => (sampled ? delaySeconds(loopDelay.percentile(p)) : 0);
      this.set({ quantile: "0.5" }, at(50));
      this.set({ quantile: "0.99" }, at(99));
      this.set({ quantile: "1" }, sampled ? delaySeconds(loopDelay.max) : 0);
      loopDelay.reset();
    },
  });

  const heartbeats = new Counter({
    name: "nixfleet_cp_heartbeats_total",
    help: "Heartbeats by outcome (ok: committed; shed: queue full; unavailable: commit failed).",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const synthesizedEvents = new Counter({
    name: "nixfleet_cp_synthesized_events_total",
    help: "Events the control plane synthesized from heartbeats to heal records, by kind.",
    labelNames: ["kind"] as const,
    registers: [registry],
  });
  const seqGapEvents = new Counter({
    name: "nixfleet_cp_seq_gap_events_total",
    help: "Applied events whose seq skipped past the record's last seq + 1.",
    registers: [registry],
  });
  const missingSeqs = new Counter({
    name: "nixfleet_cp_missing_seqs_total",
    help: "Seqs skipped by applied events (the sum of their gaps).",
    registers: [registry],
  });
  const livenessChanges = new Counter({
    name: "nixfleet_cp_host_liveness_changes_total",
    help: "Hosts that became reachable or unreachable, as this process noticed.",
    labelNames: ["to"] as const,
    registers: [registry],
  });
  // One query per scrape answers both gauges.
  let livenessRead: Promise<{ unreachable: number; total: number }> | undefined;
  const readLiveness = () => {
    livenessRead ??= (
      sources?.livenessCounts?.() ?? Promise.resolve({ unreachable: 0, total: 0 })
    ).finally(() => {
      setImmediate(() => {
        livenessRead = undefined;
      });
    });
    return livenessRead;
  };
  new Gauge({
    name: "nixfleet_cp_hosts_unreachable",
    help: "Hosts whose last heartbeat is older than 3 heartbeat intervals.",
    registers: [registry],
    async collect() {
      this.set((await readLiveness()).unreachable);
    },
  });
  new Gauge({
    name: "nixfleet_cp_hosts_heartbeating",
    help: "Hosts that ever sent a heartbeat (reachable or not).",
    registers: [registry],
    async collect() {
      this.set((await readLiveness()).total);
    },
  });

  return {
    registry,
    heartbeats,
    synthesizedEvents,
    seqGapEvents,
    missingSeqs,
    livenessChanges,
    requests,
    httpRequests,
    tlsHandshakeFailures,
    tlsReloads,
    tlsCertificateNotAfter,
    events,
    refusals,
    batchSize,
    commitSeconds,
    reducerLagSeconds,
    batchFailures,
    bind(s) {
      sources = s;
    },
  };
}
