// Opening a rollout (SPEC §5): the Pending record each host starts from, which is also the
// starting point of every replay.
import type { HostRolloutRecord } from "./domain.js";
import { addSeconds, type Instant } from "./instant.js";

/** What opening a rollout needs to know about it and its hosts. */
export interface OpenRolloutInput {
  readonly rolloutId: string;
  readonly channel: string;
  /** Whole seconds, at least 0. */
  readonly soakDurationSecs: number;
  readonly hosts: readonly { readonly hostname: string; readonly targetClosure: string }[];
}

/**
 * One Pending record per host, in the order given: dispatchedAt = `now` (the control
 * plane's clock), soakDueAt = now + soak duration, last seq 0, nothing else known yet.
 * Validating the input (unique hostnames, the rollout id's form) is the caller's job.
 */
export function openRecords(input: OpenRolloutInput, now: Instant): HostRolloutRecord[] {
  const soakDueAt = addSeconds(now, input.soakDurationSecs);
  return input.hosts.map((host) => ({
    rolloutId: input.rolloutId,
    hostname: host.hostname,
    channel: input.channel,
    state: "Pending",
    targetClosure: host.targetClosure,
    currentClosureAtDispatch: null,
    currentClosure: null,
    revertedTo: null,
    dispatchedAt: now,
    dispatchAckedAt: null,
    activationStartedAt: null,
    activationCompletedAt: null,
    activationFailedAt: null,
    probeObservedFirstAt: null,
    probeFailureFirstAt: null,
    soakDueAt,
    convergedAt: null,
    failedAt: null,
    policyApplied: null,
    revertedAt: null,
    probes: [],
    lastEventSeq: 0,
    missingSeqCount: 0,
    missingSeqs: [],
  }));
}
