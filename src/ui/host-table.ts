// The page's copy of one rollout's host records, kept current from WatchRollout: records by
// hostname, the sorted names and counts by state, updated per message in O(1) (amortized).
import type { HostRollout } from "../../gen/nixfleet/ops/v1/host_rollout_pb.js";
import { emptyCounts, type StateCounts, stateInfo } from "./states.js";

/** Current records of one rollout. */
export class HostTable {
  readonly #records = new Map<string, HostRollout>();
  #names: string[] | undefined = [];
  readonly counts: StateCounts = emptyCounts();

  /** Inserts or replaces a record; returns the one it replaced. */
  put(record: HostRollout): HostRollout | undefined {
    const previous = this.#records.get(record.hostname);
    if (previous !== undefined) this.counts[stateInfo(previous.state).name]--;
    else this.#names = undefined;
    this.#records.set(record.hostname, record);
    this.counts[stateInfo(record.state).name]++;
    return previous;
  }

  /** Drops every record (before a new snapshot). */
  clear(): void {
    this.#records.clear();
    this.#names = [];
    Object.assign(this.counts, emptyCounts());
  }

  get(hostname: string): HostRollout | undefined {
    return this.#records.get(hostname);
  }

  get size(): number {
    return this.#records.size;
  }

  /** Hostnames in order (sorted lazily after inserts). */
  names(): readonly string[] {
    this.#names ??= [...this.#records.keys()].sort(compareHostnames);
    return this.#names;
  }
}

// Natural order, so web-2 comes before web-10.
const collator = new Intl.Collator("en", { numeric: true });
function compareHostnames(a: string, b: string): number {
  return collator.compare(a, b);
}
