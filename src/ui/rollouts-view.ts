// The overview: every rollout with its derived status and a bar by state.
import { h, replaceChildren } from "./dom.js";
import { progressBar } from "./progress-bar.js";
import { listRollouts } from "./rollout-list.js";
import type { ViewContext } from "./rollout-view.js";

/** Mounts the overview into `root`; returns the function that abandons it. */
export function mountOverview(root: HTMLElement, ctx: ViewContext): () => void {
  const abort = new AbortController();
  const body = h(
    "div",
    { class: "overview-body" },
    h("p", { class: "muted" }, "Loading rollouts…"),
  );
  const refresh = h("button", { type: "button", class: "refresh" }, "Refresh");
  replaceChildren(root, h("div", { class: "overview" }, h("h2", {}, "Rollouts ", refresh), body));
  const load = async () => {
    try {
      const rollouts = await listRollouts(ctx.api, abort.signal);
      ctx.setConnection("live");
      if (rollouts.length === 0) {
        replaceChildren(body, h("p", { class: "muted" }, "No rollout is open."));
        return;
      }
      replaceChildren(
        body,
        h(
          "table",
          { class: "rollouts" },
          h(
            "tr",
            {},
            ...["rollout", "channel", "hosts", "status", "progress"].map((t) => h("th", {}, t)),
          ),
          ...rollouts.map((r) =>
            h(
              "tr",
              { "data-rollout": r.id },
              h("td", {}, h("a", { href: `#/rollout/${encodeURIComponent(r.id)}` }, r.id)),
              h("td", {}, r.channel),
              h("td", { class: "num" }, String(r.hostCount)),
              h("td", {}, h("span", { class: "status", "data-status": r.status }, r.status)),
              h("td", { class: "progress" }, progressBar(r.counts)),
            ),
          ),
        ),
      );
    } catch (error) {
      if (abort.signal.aborted) return;
      replaceChildren(
        body,
        h("p", { class: "error" }, `Could not list rollouts: ${String(error)}`),
      );
    }
  };
  refresh.addEventListener("click", () => void load());
  void load();
  return () => abort.abort();
}
