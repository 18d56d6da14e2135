// The marks that need the service besides the rollout's records: unreachable hosts from
// HostService.WatchHosts (a stream, so no polling) and refused events from ListRefusedEvents
// (no stream exists for refusals: re-read every 30 s while the rollout is shown).
import { Code, ConnectError } from "@connectrpc/connect";
import type { Host } from "../../gen/nixfleet/ops/v1/host_service_pb.js";
import type { Api, HostsApi } from "./api.js";
import { addMarkSource, type Mark } from "./marks.js";

const REFUSALS_EVERY_MS = 30_000;
// A page shows at most this many refusal rows' hosts; the CLI and RPC page through the rest.
const REFUSAL_PAGES = 10;

/** Starts both sources for one rollout; `changed` repaints. Abort `signal` to stop. */
export function startLiveMarks(
  api: Api,
  hosts: HostsApi,
  rolloutId: string,
  changed: () => void,
  signal: AbortSignal,
): void {
  const unreachable = new Set<string>();
  const refused = new Map<string, bigint>();
  const remove = addMarkSource((host): Mark[] => {
    const marks: Mark[] = [];
    if (unreachable.has(host.hostname)) {
      marks.push({ kind: "unreachable", detail: "unreachable: no heartbeat for 3 intervals" });
    }
    const count = refused.get(host.hostname);
    if (count !== undefined) {
      marks.push({ kind: "refused", detail: `${count} refused event${count === 1n ? "" : "s"}` });
    }
    return marks;
  });
  signal.addEventListener("abort", remove, { once: true });

  const apply = (host: Host): void => {
    const had = unreachable.has(host.hostname);
    if (host.reachable) unreachable.delete(host.hostname);
    else unreachable.add(host.hostname);
    if (had !== !host.reachable) changed();
  };
  void (async () => {
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        for await (const m of hosts.watchHosts({}, { signal })) {
          if (m.update.case === "snapshot" || m.update.case === "change") apply(m.update.value);
        }
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ConnectError && error.code === Code.PermissionDenied) return;
      }
      await sleep(Math.min(10_000, 500 * 2 ** attempt), signal);
    }
  })();

  void (async () => {
    while (!signal.aborted) {
      try {
        const counts = new Map<string, bigint>();
        let pageToken = "";
        for (let page = 0; page < REFUSAL_PAGES; page++) {
          const res = await api.listRefusedEvents(
            { rolloutId, pageSize: 1000, pageToken },
            { signal },
          );
          for (const r of res.refusedEvents) {
            counts.set(r.hostname, (counts.get(r.hostname) ?? 0n) + r.count);
          }
          pageToken = res.nextPageToken;
          if (pageToken === "") break;
        }
        refused.clear();
        for (const [host, n] of counts) refused.set(host, n);
        changed();
      } catch {
        if (signal.aborted) return;
      }
      await sleep(REFUSALS_EVERY_MS, signal);
    }
  })();
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
