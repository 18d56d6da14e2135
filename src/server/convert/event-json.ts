// A domain event in its HTTP-binding JSON shape with agent timestamps as RFC 3339 text
// (0/3/6/9 fractional digits): what the event log shows and what an agent signs.
import type { RemoteEvent } from "../../core/event.js";
import { formatInstant, type Instant } from "../../core/instant.js";
import { EVENT_FIELDS } from "./event-fields.js";
import { timestamp } from "./field-codecs.js";

// Only the kind's timestamp fields are formatted: any other string (a probe name, a closure)
// that merely looks like an instant is the agent's text and comes back unchanged.
const TIMESTAMP_FIELDS: ReadonlyMap<string, readonly string[]> = new Map(
  Object.entries(EVENT_FIELDS).map(([kind, fields]) => [
    kind,
    Object.entries(fields)
      .filter(([, codec]) => codec === timestamp)
      .map(([name]) => name),
  ]),
);

/** The binding-shape JSON object of an event. */
export function eventToBindingJson(event: RemoteEvent): Record<string, unknown> {
  const json = JSON.parse(JSON.stringify(event)) as Record<string, unknown>;
  for (const name of TIMESTAMP_FIELDS.get(event.kind) ?? []) {
    const value = json[name];
    if (typeof value === "string") json[name] = formatInstant(value as Instant);
  }
  return json;
}
