// A bar split by state: each state's share of the hosts, in lifecycle order, with a title per
// segment. Used for every rollout in the overview and for the open rollout.
import { h } from "./dom.js";
import { STATES, type StateCounts } from "./states.js";

/** The bar's element for `counts`. */
export function progressBar(counts: StateCounts): HTMLElement {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const bar = h("div", { class: "bar", role: "img", "aria-label": describe(counts) });
  for (const state of STATES) {
    const n = counts[state.name];
    if (n === 0 || total === 0) continue;
    const segment = h("span", {
      class: "segment",
      title: `${state.name}: ${n}`,
      "data-state": state.name,
    });
    segment.style.width = `${(100 * n) / total}%`;
    segment.style.background = state.color;
    bar.appendChild(segment);
  }
  return bar;
}

function describe(counts: StateCounts): string {
  return STATES.filter((s) => counts[s.name] > 0)
    .map((s) => `${s.name} ${counts[s.name]}`)
    .join(", ");
}
