// One host of the open rollout: its record, its probes and the timeline of its events (agent
// time and CP commit time; synthesized events marked once the log says so).
import type { JsonObject } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { ProbeMode, ProbeStatus } from "../../gen/nixfleet/agent/v1/events_pb.js";
import type { HostRollout } from "../../gen/nixfleet/ops/v1/host_rollout_pb.js";
import type { EventLogEntry } from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import type { Api } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { formatIso, formatTime } from "./format.js";
import { marksOf } from "./marks.js";
import { stateInfo } from "./states.js";

// A host's timeline is read in pages of this size, at most this many pages.
const PAGE = 1000;
const MAX_PAGES = 20;

/** The host panel; `show` switches hosts, `update` refreshes the shown one. */
export class HostPanel {
  readonly element = h("section", { class: "host-panel", hidden: true });
  readonly #api: Api;
  readonly #rolloutId: string;
  #hostname: string | undefined;
  #events: EventLogEntry[] = [];
  #lastId = 0n;
  #loading: Promise<void> = Promise.resolve();

  constructor(api: Api, rolloutId: string) {
    this.#api = api;
    this.#rolloutId = rolloutId;
  }

  get hostname(): string | undefined {
    return this.#hostname;
  }

  /** Shows `record` (undefined hides the panel) and reads its timeline from the start. */
  show(record: HostRollout | undefined, hostname?: string): void {
    this.#hostname = record?.hostname ?? hostname;
    this.#events = [];
    this.#lastId = 0n;
    if (this.#hostname === undefined) {
      this.element.hidden = true;
      return;
    }
    this.element.hidden = false;
    this.#render(record);
    this.#loadEvents(record);
  }

  /** The shown host changed: redraw the record and append the events committed since. */
  update(record: HostRollout): void {
    if (record.hostname !== this.#hostname) return;
    this.#render(record);
    this.#loadEvents(record);
  }

  /** The shown host's marks changed (liveness, refusals): redraw without reading events. */
  redraw(record: HostRollout): void {
    if (record.hostname === this.#hostname) this.#render(record);
  }

  #loadEvents(record: HostRollout | undefined): void {
    const hostname = this.#hostname;
    // Serialized so two quick updates never read the same page twice.
    this.#loading = this.#loading.then(async () => {
      try {
        for (let page = 0; page < MAX_PAGES; page++) {
          const response = await this.#api.listEvents({
            rolloutId: this.#rolloutId,
            hostname,
            afterId: this.#lastId,
            limit: PAGE,
          });
          if (hostname !== this.#hostname) return;
          this.#events.push(...response.events);
          if (response.events.length === 0) break;
          this.#lastId = response.lastId;
          if (response.events.length < PAGE) break;
        }
        this.#render(record);
      } catch (error) {
        this.element
          .querySelector(".timeline")
          ?.replaceWith(
            h("p", { class: "error timeline" }, `could not read the events: ${String(error)}`),
          );
      }
    });
  }

  #render(record: HostRollout | undefined): void {
    if (record === undefined) {
      replaceChildren(
        this.element,
        h("h3", {}, this.#hostname ?? ""),
        h("p", { class: "muted" }, "No such host in this rollout."),
      );
      return;
    }
    const state = stateInfo(record.state);
    const marks = marksOf(record);
    replaceChildren(
      this.element,
      h(
        "h3",
        {},
        record.hostname,
        " ",
        h(
          "span",
          { class: "badge", "data-host-state": state.name, style: `background:${state.color}` },
          state.name,
        ),
      ),
      marks.length > 0
        ? h(
            "ul",
            { class: "marks" },
            ...marks.map((m) => h("li", { "data-mark": m.kind }, m.detail)),
          )
        : null,
      fields(record),
      h("h4", {}, "Probes"),
      probes(record),
      h("h4", {}, `Events (${this.#events.length})`),
      timeline(this.#events),
    );
  }
}

function fields(r: HostRollout): HTMLElement {
  const rows: [string, string][] = [
    ["target closure", r.targetClosure],
    ["current closure", r.currentClosure ?? "—"],
    ["closure at dispatch", r.currentClosureAtDispatch ?? "—"],
    ["reverted to", r.revertedTo ?? "—"],
    ["dispatched (CP)", formatTime(r.dispatchedAt)],
    ["soak due (CP)", formatTime(r.soakDueAt)],
    ["acked", formatTime(r.dispatchAckedAt)],
    ["activation started", formatTime(r.activationStartedAt)],
    ["activation completed", formatTime(r.activationCompletedAt)],
    ["activation failed", formatTime(r.activationFailedAt)],
    ["converged", formatTime(r.convergedAt)],
    ["failed", formatTime(r.failedAt)],
    ["reverted", formatTime(r.revertedAt)],
    ["last seq", String(r.lastEventSeq)],
  ];
  return h(
    "dl",
    { class: "fields" },
    ...rows.filter(([, v]) => v !== "—").flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
  );
}

function probes(r: HostRollout): HTMLElement {
  if (r.probes.length === 0) return h("p", { class: "muted" }, "No probe results.");
  return h(
    "table",
    { class: "probes" },
    h(
      "tr",
      {},
      ...["probe", "mode", "status", "last run", "last pass", "failure"].map((t) => h("th", {}, t)),
    ),
    ...r.probes.map((p) =>
      h(
        "tr",
        { "data-probe-status": ProbeStatus[p.status] },
        h("td", {}, p.probeName),
        h("td", {}, enumLabel(ProbeMode[p.mode])),
        h(
          "td",
          { class: `probe-${enumLabel(ProbeStatus[p.status])}` },
          enumLabel(ProbeStatus[p.status]),
        ),
        h("td", {}, formatTime(p.lastObservedAt)),
        h("td", {}, formatTime(p.lastPassAt)),
        h("td", {}, p.failureReason ?? ""),
      ),
    ),
  );
}

function timeline(events: readonly EventLogEntry[]): HTMLElement {
  if (events.length === 0) return h("p", { class: "muted timeline" }, "No events yet.");
  return h(
    "table",
    { class: "timeline" },
    h(
      "tr",
      {},
      ...["log id", "seq", "event", "agent time", "committed (CP)", ""].map((t) => h("th", {}, t)),
    ),
    ...[...events]
      .reverse()
      .map((e) =>
        h(
          "tr",
          { "data-event-kind": e.kind, "data-seq": String(e.seq) },
          h("td", {}, String(e.id)),
          h("td", {}, String(e.seq)),
          h("td", {}, e.kind),
          h("td", {}, agentTime(e.event)),
          h("td", {}, formatTime(e.recordedAt as Timestamp | undefined)),
          h(
            "td",
            {},
            isSynthesized(e)
              ? h(
                  "span",
                  { class: "tag", title: "written by the CP from a heartbeat" },
                  "synthesized",
                )
              : null,
          ),
        ),
      ),
  );
}

// The event's own time: each kind names it differently (receivedAt, startedAt, completedAt…).
function agentTime(event: JsonObject | undefined): string {
  if (event === undefined) return "—";
  for (const [key, value] of Object.entries(event)) {
    if (key.endsWith("At") && typeof value === "string") return formatIso(value);
  }
  return "—";
}

// Hook point for recovery synthesis (issue 12): the log marks CP-written events; either a
// field of the entry or a flag in the event's JSON counts until that shape settles.
function isSynthesized(entry: EventLogEntry): boolean {
  const flagged = (entry as unknown as { synthesized?: unknown }).synthesized;
  return flagged === true || entry.event?.["synthesized"] === true;
}

function enumLabel(name: string | undefined): string {
  return (name ?? "unknown").toLowerCase();
}
