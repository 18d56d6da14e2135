// The status page's entry: a hash router over the overview (#/), a rollout
// (#/rollout/<id>) and a host in it (#/rollout/<id>/host/<hostname>).
import "./style.css";
import { createApi, createHostsApi } from "./api.js";
import { mountRollout, type RolloutView, type ViewContext } from "./rollout-view.js";
import { mountOverview } from "./rollouts-view.js";

const api = createApi();
const root = document.getElementById("app") as HTMLElement;
const conn = document.getElementById("conn") as HTMLElement;
const crumbs = document.getElementById("crumbs") as HTMLElement;

const ctx: ViewContext = {
  api,
  hosts: createHostsApi(),
  setConnection(state) {
    conn.textContent = state;
    conn.dataset["state"] = state;
  },
  navigate(hash) {
    location.hash = hash;
  },
};

let rollout: RolloutView | undefined;
let disposeOverview: (() => void) | undefined;

function route(): void {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "rollout" && parts[1] !== undefined && parts[1] !== "") {
    const rolloutId = parts[1];
    const hostname = parts[2] === "host" ? parts[3] : undefined;
    disposeOverview?.();
    disposeOverview = undefined;
    if (rollout?.rolloutId !== rolloutId) {
      rollout?.dispose();
      rollout = mountRollout(root, ctx, rolloutId);
    }
    rollout.select(hostname);
    crumbs.textContent = hostname === undefined ? `/ ${rolloutId}` : `/ ${rolloutId} / ${hostname}`;
    return;
  }
  rollout?.dispose();
  rollout = undefined;
  disposeOverview?.();
  crumbs.textContent = "";
  disposeOverview = mountOverview(root, ctx);
}

window.addEventListener("hashchange", route);
route();
