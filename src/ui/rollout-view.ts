// One rollout, live: WatchRollout's snapshot fills the host table, each committed change
// updates it; counts, bar and grid repaint once per animation frame for whatever changed.
import { Code, ConnectError } from "@connectrpc/connect";
import type { HostRollout } from "../../gen/nixfleet/ops/v1/host_rollout_pb.js";
import type { Api, HostsApi } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { HostGrid } from "./grid.js";
import { HostPanel } from "./host-panel.js";
import { HostTable } from "./host-table.js";
import { startLiveMarks } from "./live-marks.js";
import { marksOf } from "./marks.js";
import { progressBar } from "./progress-bar.js";
import { loadQuarantine } from "./quarantine.js";
import { deriveStatus, STATES, type StateName, stateInfo } from "./states.js";

/** What the page shell gives a view. */
export interface ViewContext {
  readonly api: Api;
  readonly hosts: HostsApi;
  readonly setConnection: (state: "connecting" | "live" | "reconnecting" | "closed") => void;
  readonly navigate: (hash: string) => void;
}

/** A mounted rollout view. */
export interface RolloutView {
  readonly rolloutId: string;
  select(hostname: string | undefined): void;
  dispose(): void;
}

/** Mounts the rollout page into `root` and starts watching. */
export function mountRollout(root: HTMLElement, ctx: ViewContext, rolloutId: string): RolloutView {
  const abort = new AbortController();
  const table = new HostTable();
  const shown = new Set<StateName>();
  let search = "";
  let markedOnly = false;
  let snapshotDone = false;
  const dirty = new Set<string>();
  let relayout = false;
  let frame = 0;

  const hostUrl = (hostname: string) =>
    `#/rollout/${encodeURIComponent(rolloutId)}/host/${encodeURIComponent(hostname)}`;
  const grid = new HostGrid((hostname) => ctx.navigate(hostUrl(hostname)));
  const panel = new HostPanel(ctx.api, rolloutId);
  const status = h("span", { class: "status", "data-status": "" });
  const bar = h("div", { class: "bar-slot" });
  const chips = h("div", { class: "chips" });
  const summary = h("p", { class: "muted summary" });
  const quarantine = h("section", { class: "quarantine" });
  const searchBox = h("input", {
    type: "search",
    placeholder: "search hostname",
    "aria-label": "search hostname",
    class: "search",
  });
  searchBox.addEventListener("input", () => {
    search = searchBox.value.trim().toLowerCase();
    schedule(true);
  });
  const markedBox = h("input", { type: "checkbox", "aria-label": "only hosts with marks" });
  markedBox.addEventListener("change", () => {
    markedOnly = markedBox.checked;
    schedule(true);
  });
  const chipOf = new Map<StateName, HTMLElement>();
  for (const state of STATES) {
    const chip = h(
      "button",
      { class: "chip", type: "button", "data-filter": state.name, "aria-pressed": "false" },
      h("i", { style: `background:${state.color}` }),
      state.name,
      " ",
      h("b", { "data-state-count": state.name }, "0"),
    );
    chip.title = state.meaning;
    chip.addEventListener("click", () => {
      if (shown.has(state.name)) shown.delete(state.name);
      else shown.add(state.name);
      chip.setAttribute("aria-pressed", String(shown.has(state.name)));
      schedule(true);
    });
    chipOf.set(state.name, chip);
    chips.appendChild(chip);
  }

  replaceChildren(
    root,
    h(
      "div",
      { class: "rollout", "data-rollout": rolloutId, "data-snapshot": "loading" },
      h("h2", {}, rolloutId, " ", status),
      bar,
      h(
        "div",
        { class: "filters" },
        chips,
        searchBox,
        h("label", { class: "marked" }, markedBox, " with marks only"),
      ),
      summary,
      h("div", { class: "columns" }, h("div", { class: "grid-slot" }, grid.element), panel.element),
      quarantine,
    ),
  );
  const view = root.firstElementChild as HTMLElement;

  const matches = (host: HostRollout): boolean =>
    (shown.size === 0 || shown.has(stateInfo(host.state).name)) &&
    (search === "" || host.hostname.toLowerCase().includes(search)) &&
    (!markedOnly || marksOf(host).length > 0);

  function schedule(layout: boolean) {
    relayout ||= layout;
    if (frame === 0 && snapshotDone) frame = requestAnimationFrame(flush);
  }

  function flush() {
    frame = 0;
    const counts = table.counts;
    for (const state of STATES) {
      const count = chipOf.get(state.name)?.querySelector("b");
      if (count) count.textContent = String(counts[state.name]);
    }
    const derived = deriveStatus(counts);
    status.textContent = derived;
    status.dataset["status"] = derived;
    replaceChildren(bar, progressBar(counts));
    if (relayout) {
      const hosts: HostRollout[] = [];
      for (const name of table.names()) {
        const host = table.get(name);
        if (host !== undefined && matches(host)) hosts.push(host);
      }
      grid.setHosts(hosts);
      summary.textContent = `${hosts.length} of ${table.size} hosts shown`;
    } else {
      for (const name of dirty) {
        const host = table.get(name);
        if (host !== undefined) grid.updateHost(host);
      }
    }
    relayout = false;
    dirty.clear();
  }

  function apply(record: HostRollout) {
    const previous = table.put(record);
    dirty.add(record.hostname);
    // A host entering or leaving the filtered set moves others: lay the grid out again.
    if (previous === undefined || matches(previous) !== matches(record)) relayout = true;
    if (record.hostname === panel.hostname) panel.update(record);
    schedule(false);
  }

  async function watch() {
    for (let attempt = 0; !abort.signal.aborted; attempt++) {
      ctx.setConnection(attempt === 0 ? "connecting" : "reconnecting");
      let fresh = true;
      try {
        for await (const message of ctx.api.watchRollout({ rolloutId }, { signal: abort.signal })) {
          const update = message.update;
          if (update.case === "snapshot") {
            if (fresh) {
              table.clear();
              fresh = false;
              performance.mark("nixfleet:snapshot-first");
            }
            table.put(update.value);
          } else if (update.case === "snapshotComplete") {
            attempt = 0;
            snapshotDone = true;
            performance.mark("nixfleet:snapshot-complete");
            view.dataset["snapshot"] = "complete";
            view.dataset["hosts"] = String(table.size);
            schedule(true);
            flush();
            performance.mark("nixfleet:first-render");
            ctx.setConnection("live");
            if (panel.hostname !== undefined) panel.show(table.get(panel.hostname), panel.hostname);
          } else if (update.case === "change" && update.value.hostRollout !== undefined) {
            apply(update.value.hostRollout);
          }
        }
      } catch (error) {
        if (abort.signal.aborted) return;
        if (error instanceof ConnectError && error.code === Code.NotFound) {
          replaceChildren(root, h("p", { class: "error" }, `No rollout ${rolloutId}.`));
          ctx.setConnection("closed");
          return;
        }
      }
      // The stream ended (server restart, network): watch again after a growing pause.
      await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 500 * 2 ** attempt)));
    }
  }

  async function showQuarantine() {
    const channel = rolloutId.split("@")[0] ?? rolloutId;
    const closures = await loadQuarantine(ctx.api, channel);
    replaceChildren(
      quarantine,
      h("h3", {}, `Quarantined closures of channel ${channel}`),
      closures === undefined
        ? h("p", { class: "muted" }, "The service does not list quarantined closures yet.")
        : closures.length === 0
          ? h("p", { class: "muted" }, "None.")
          : h(
              "ul",
              {},
              ...closures.map((c) =>
                h("li", {}, h("code", {}, c.closure), c.at ? ` since ${c.at}` : ""),
              ),
            ),
    );
  }

  void watch();
  startLiveMarks(
    ctx.api,
    ctx.hosts,
    rolloutId,
    () => {
      schedule(true);
      const shown = panel.hostname === undefined ? undefined : table.get(panel.hostname);
      if (shown !== undefined) panel.redraw(shown);
    },
    abort.signal,
  );
  void showQuarantine();
  return {
    rolloutId,
    select(hostname) {
      grid.select(hostname);
      panel.show(hostname === undefined ? undefined : table.get(hostname), hostname);
    },
    dispose() {
      abort.abort();
      if (frame !== 0) cancelAnimationFrame(frame);
    },
  };
}
