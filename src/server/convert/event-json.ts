// A domain event in its HTTP-binding JSON shape with agent timestamps as RFC 3339 text
// (0/3/6/9 fractional digits): what the event log shows and what an agent signs.
import type { RemoteEvent } from "../../core/event.js";
import { formatInstant, type Instant } from "../../core/instant.js";

const INSTANT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/;

/** The binding-shape JSON object of an event. */
export function eventToBindingJson(event: RemoteEvent): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify(event, (_key, value: unknown) =>
      typeof value === "string" && INSTANT.test(value) ? formatInstant(value as Instant) : value,
    ),
  ) as Record<string, unknown>;
}
