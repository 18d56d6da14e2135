// Builds a phase's requests ahead of time: for every host, one lane per rollout, each lane's
// events encoded for the protocol, so the timed phase only writes prepared buffers.
import { eventsPerLane, laneEvents } from "./event-sequence.js";
import type { Workload } from "./load-driver.js";
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
