// Builds a phase's requests ahead of time: for every host, one lane per rollout, each lane's
// events encoded for the protocol, so the timed phase only writes prepared buffers.
import { eventsPerLane, laneEvents } from "./event-sequence.js";
import type { Workload } from "./load-driver.js";
import { encodePostEvents } from "./post-events-format.js";
import { type EncodedRequest, encodeRequest, type Protocol } from "./wire-format.js";

/** What a phase needs encoded. */
export interface WorkloadSpec {
  readonly protocol: Protocol;
  readonly hosts: readonly string[];
  /** Every host is in every one of these rollouts; host h takes them in this order. */
  readonly rolloutIds: readonly string[];
  readonly lanesPerHost: number;
  readonly probeResults: number;
  /** Loop over the sequences forever (for servers that keep no state). */
  readonly recycle: boolean;
}

/** Encodes every request of the phase. Event times start now, after the rollouts opened. */
export function buildWorkload(spec: WorkloadSpec): Workload {
  const t0 = Date.now();
  const sequences = spec.hosts.map((host) =>
    spec.rolloutIds.map((rolloutId): readonly EncodedRequest[] =>
      laneEvents(host, rolloutId, t0, spec.probeResults).map((e) =>
        encodeRequest(e, spec.protocol),
      ),
    ),
  );
  return {
    protocol: spec.protocol,
    sequences,
    lanesPerHost: spec.lanesPerHost,
    recycle: spec.recycle,
  };
}

/** What a PostEvents phase needs encoded. */
export interface BatchWorkloadSpec {
  readonly hosts: readonly string[];
  readonly rolloutIds: readonly string[];
  readonly lanesPerHost: number;
  readonly probeResults: number;
  /** Events per PostEvents call. */
  readonly batchEvents: number;
}

/**
 * PostEvents over Connect binary: host h's rollouts are dealt to its lanes (lane k takes
 * rollouts k, k + lanes, ...), each lane's events are laid end to end in seq order per
 * rollout, and cut into calls of `batchEvents`, so a call usually spans rollouts, as an
 * agent's backlog does. Each lane is one sequence of the driver.
 */
export function buildBatchWorkload(spec: BatchWorkloadSpec): Workload {
  const t0 = Date.now();
  const sequences = spec.hosts.map((host) =>
    Array.from({ length: spec.lanesPerHost }, (_, k): readonly EncodedRequest[] => {
      const events = spec.rolloutIds
        .filter((_, r) => r % spec.lanesPerHost === k)
        .flatMap((rolloutId) => laneEvents(host, rolloutId, t0, spec.probeResults));
      const calls: EncodedRequest[] = [];
      for (let i = 0; i < events.length; i += spec.batchEvents) {
        calls.push(encodePostEvents(host, events.slice(i, i + spec.batchEvents)));
      }
      return calls;
    }),
  );
  return { protocol: "post-events", sequences, lanesPerHost: spec.lanesPerHost, recycle: false };
}

/**
 * Rollouts to open so that `events` requests, spread over every host, never run a lane dry:
 * each host needs events / (hosts × events per lane) lanes, plus the lanes still unfinished
 * when the phase ends.
 */
export function rolloutsNeeded(
  events: number,
  hosts: number,
  lanesPerHost: number,
  probeResults: number,
): number {
  return Math.ceil(events / (hosts * eventsPerLane(probeResults))) + lanesPerHost + 1;
}
