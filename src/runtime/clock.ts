// The control plane's clock, injected so tests and replays can fix time.
import { type Instant, instantFromEpochNanos } from "../core/instant.js";

/** A source of the control plane's current time. */
export interface Clock {
  now(): Instant;
}

/** The system clock at millisecond precision. */
export const systemClock: Clock = {
  now() {
    return instantFromEpochNanos(BigInt(Date.now()) * 1_000_000n) as Instant;
  },
};
