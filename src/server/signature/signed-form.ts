// The canonical signed form of an event (SPEC §9), defined once: the RFC 8785 JSON of the
// event object in its HTTP-binding shape (`kind`, `seq` and the kind's fields), with members
// whose value is null left out and an empty `subResults` left out, so absent, null and
// empty optionals sign alike. A signature is checked against the few texts an honest agent
// may have signed, and the one that verifies is kept in the event log for audit.
import type { RemoteEvent } from "../../core/event.js";
import { eventToBindingJson } from "../convert/event-json.js";
import { canonicalJson } from "./canonical-json.js";

/** `value` without null members (at any depth) and without an empty `subResults`. */
export function normalizeSigned(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalizeSigned);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(value)) {
    if (member === null || member === undefined) continue;
    if (key === "subResults" && Array.isArray(member) && member.length === 0) continue;
    out[key] = normalizeSigned(member);
  }
  return out;
}

/** The canonical signed form of an event object in binding shape. */
export function signedForm(event: unknown): string {
  return canonicalJson(normalizeSigned(event));
}

/**
 * The texts a signature over this event may cover, most likely first: over the binding the
 * object exactly as received (RFC 8785), then its canonical signed form; over the proto
 * (which cannot carry nulls, unknown keys or the agent's timestamp spelling) the canonical
 * signed form of the event rebuilt in binding shape, then the same with `"subResults":[]`,
 * which agents that always send the list sign.
 */
export function signedFormCandidates(event: RemoteEvent, rawEvent: unknown): string[] {
  const forms: string[] = [];
  const add = (form: string | undefined) => {
    if (form !== undefined && !forms.includes(form)) forms.push(form);
  };
  if (rawEvent !== undefined) {
    add(tryCanonical(rawEvent));
    add(tryCanonical(normalizeSigned(rawEvent)));
    return forms;
  }
  const shaped = normalizeSigned(eventToBindingJson(event)) as Record<string, unknown>;
  add(canonicalJson(shaped));
  if (event.kind === "ProbeResult") add(canonicalJson({ ...shaped, subResults: [] }));
  return forms;
}

function tryCanonical(value: unknown): string | undefined {
  try {
    return canonicalJson(value);
  } catch {
    return undefined;
  }
}
