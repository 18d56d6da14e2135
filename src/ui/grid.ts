// The host grid: one canvas cell per host colored by state, with marks, hover details and
// click to select. A canvas keeps 10,000 hosts cheap: a state change repaints one cell, a
// filter change repaints the whole canvas in one pass (no DOM node per host).
import type { HostRollout } from "../../gen/nixfleet/ops/v1/host_rollout_pb.js";
import { h } from "./dom.js";
import { MARK_STYLES, marksOf } from "./marks.js";
import { stateInfo } from "./states.js";

interface Layout {
  readonly cols: number;
  readonly cellW: number;
  readonly cellH: number;
  readonly gap: number;
  /** Tiles with the hostname written in them, for fleets small enough to read. */
  readonly labels: boolean;
}

// Up to this many hosts are drawn as labeled tiles; more become small squares.
const LABELED_MAX = 240;

/** A canvas grid of hosts. */
export class HostGrid {
  readonly element: HTMLElement;
  readonly #canvas: HTMLCanvasElement;
  readonly #tooltip: HTMLElement;
  readonly #onSelect: (hostname: string) => void;
  #hosts: HostRollout[] = [];
  #index = new Map<string, number>();
  #layout: Layout = { cols: 1, cellW: 10, cellH: 10, gap: 2, labels: false };
  #selected: string | undefined;
  #width = 0;

  constructor(onSelect: (hostname: string) => void) {
    this.#onSelect = onSelect;
    this.#canvas = h("canvas", { class: "grid-canvas", "data-rendered": 0 });
    this.#tooltip = h("div", { class: "tooltip", hidden: true });
    this.element = h("div", { class: "grid" }, this.#canvas, this.#tooltip);
    this.#canvas.addEventListener("mousemove", (e) => this.#hover(e));
    this.#canvas.addEventListener("mouseleave", () => {
      this.#tooltip.hidden = true;
    });
    this.#canvas.addEventListener("click", (e) => {
      const host = this.#hostAt(e);
      if (host !== undefined) this.#onSelect(host.hostname);
    });
    new ResizeObserver(() => {
      if (this.element.clientWidth !== this.#width) this.setHosts(this.#hosts);
    }).observe(this.element);
  }

  /** Lays out and paints `hosts` (already filtered and ordered). */
  setHosts(hosts: HostRollout[]): void {
    this.#hosts = hosts;
    this.#index = new Map(hosts.map((host, i) => [host.hostname, i]));
    this.#width = this.element.clientWidth || 960;
    const labels = hosts.length <= LABELED_MAX;
    const cellW = labels ? 150 : 10;
    const cellH = labels ? 34 : 10;
    const gap = labels ? 6 : 2;
    const cols = Math.max(1, Math.floor((this.#width + gap) / (cellW + gap)));
    this.#layout = { cols, cellW, cellH, gap, labels };
    const rows = Math.ceil(hosts.length / cols);
    const dpr = window.devicePixelRatio || 1;
    const cssW = cols * (cellW + gap) - gap;
    const cssH = Math.max(0, rows * (cellH + gap) - gap);
    this.#canvas.width = Math.round(cssW * dpr);
    this.#canvas.height = Math.round(cssH * dpr);
    this.#canvas.style.width = `${cssW}px`;
    this.#canvas.style.height = `${cssH}px`;
    const ctx = this.#context();
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    for (let i = 0; i < hosts.length; i++) this.#paint(ctx, i);
    this.#canvas.dataset["rendered"] = String(hosts.length);
    this.#canvas.dataset["layout"] = labels ? "tiles" : "squares";
    this.#canvas.setAttribute("aria-label", `${hosts.length} hosts`);
  }

  /** Repaints one host in place; false when it is not in the grid (filtered out). */
  updateHost(host: HostRollout): boolean {
    const i = this.#index.get(host.hostname);
    if (i === undefined) return false;
    this.#hosts[i] = host;
    this.#paint(this.#context(), i);
    return true;
  }

  /** Outlines `hostname` (or nothing). */
  select(hostname: string | undefined): void {
    const previous = this.#selected;
    this.#selected = hostname;
    const ctx = this.#context();
    for (const name of [previous, hostname]) {
      const i = name === undefined ? undefined : this.#index.get(name);
      if (i !== undefined) this.#paint(ctx, i);
    }
  }

  #context(): CanvasRenderingContext2D {
    const ctx = this.#canvas.getContext("2d");
    if (ctx === null) throw new Error("no 2D canvas");
    return ctx;
  }

  #paint(ctx: CanvasRenderingContext2D, i: number): void {
    const host = this.#hosts[i];
    if (host === undefined) return;
    const { cols, cellW, cellH, gap, labels } = this.#layout;
    const x = (i % cols) * (cellW + gap);
    const y = Math.floor(i / cols) * (cellH + gap);
    const state = stateInfo(host.state);
    ctx.clearRect(x - 1, y - 1, cellW + 2, cellH + 2);
    ctx.fillStyle = state.color;
    ctx.fillRect(x, y, cellW, cellH);
    if (labels) {
      ctx.fillStyle = "#0b1020";
      ctx.font = "600 12px system-ui, sans-serif";
      ctx.fillText(clip(host.hostname, 20), x + 6, y + 14, cellW - 12);
      ctx.font = "11px system-ui, sans-serif";
      ctx.fillText(state.name, x + 6, y + 28, cellW - 12);
    }
    this.#paintMarks(ctx, host, x, y);
    if (host.hostname === this.#selected) {
      ctx.strokeStyle = "#0b1020";
      ctx.lineWidth = 2;
      ctx.strokeRect(x + 1, y + 1, cellW - 2, cellH - 2);
    }
  }

  // Unreachable: a dark dot in the lower right; seq gap: a white corner at the top right;
  // refused events: a dark red frame.
  #paintMarks(ctx: CanvasRenderingContext2D, host: HostRollout, x: number, y: number): void {
    const { cellW, cellH } = this.#layout;
    const corner = Math.max(4, Math.min(cellW, cellH) / 2.5);
    for (const mark of marksOf(host)) {
      ctx.fillStyle = MARK_STYLES[mark.kind].color;
      ctx.strokeStyle = MARK_STYLES[mark.kind].color;
      if (mark.kind === "unreachable") {
        ctx.beginPath();
        ctx.arc(x + cellW - corner / 2, y + cellH - corner / 2, corner / 2.2, 0, 2 * Math.PI);
        ctx.fill();
      } else if (mark.kind === "seq-gap") {
        ctx.beginPath();
        ctx.moveTo(x + cellW - corner, y);
        ctx.lineTo(x + cellW, y);
        ctx.lineTo(x + cellW, y + corner);
        ctx.fill();
      } else {
        ctx.lineWidth = 2;
        ctx.strokeRect(x + 1, y + 1, cellW - 2, cellH - 2);
      }
    }
  }

  #hostAt(e: MouseEvent): HostRollout | undefined {
    const rect = this.#canvas.getBoundingClientRect();
    const { cols, cellW, cellH, gap } = this.#layout;
    const px = e.clientX - rect.left;
    const py = e.clientY - rect.top;
    const col = Math.floor(px / (cellW + gap));
    const row = Math.floor(py / (cellH + gap));
    if (col >= cols || px % (cellW + gap) > cellW || py % (cellH + gap) > cellH) return undefined;
    return this.#hosts[row * cols + col];
  }

  #hover(e: MouseEvent): void {
    const host = this.#hostAt(e);
    if (host === undefined) {
      this.#tooltip.hidden = true;
      this.#canvas.style.cursor = "default";
      return;
    }
    this.#canvas.style.cursor = "pointer";
    const marks = marksOf(host).map((m) => ` · ${m.detail}`);
    this.#tooltip.textContent = `${host.hostname} · ${stateInfo(host.state).name} · seq ${host.lastEventSeq}${marks.join("")}`;
    this.#tooltip.style.left = `${e.offsetX + 14}px`;
    this.#tooltip.style.top = `${e.offsetY + 14}px`;
    this.#tooltip.hidden = false;
  }
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
