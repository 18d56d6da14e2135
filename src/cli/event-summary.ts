// One short phrase per logged agent event for `rollout history`, read from the event's
// HTTP-binding JSON so it needs no knowledge of the proto messages.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";

const MAX_TEXT = 60;

function text(value: JsonValue | undefined): string {
  if (value === undefined || value === null) return "?";
  const s = typeof value === "string" ? value : JSON.stringify(value);
  const first = s.split("\n").find((l) => l.trim() !== "") ?? "";
  return first.length > MAX_TEXT ? `${first.slice(0, MAX_TEXT - 1)}…` : first;
}

function probes(value: JsonValue | undefined): string {
  if (!Array.isArray(value)) return "?";
  return value
    .map((p) => {
      const probe = (p ?? {}) as JsonObject;
      return `${text(probe["probeName"])} (${text(probe["mode"])})`;
    })
    .join(", ");
}

/** A short summary of an event in its binding shape, e.g. "nginx fail (enforce): timeout". */
export function summarizeEvent(event: JsonObject | undefined): string {
  if (event === undefined) return "";
  const f = (name: string) => text(event[name]);
  switch (event["kind"]) {
    case "DispatchAck":
      return `was on ${f("currentClosureAtDispatch")}`;
    case "ActivationStarted":
      return `switching via ${f("switchMethod")}`;
    case "ActivationCompleted":
      return `now on ${f("observedCurrentClosure")} (exit ${f("exitCode")})`;
    case "ActivationFailed":
      return `exit ${f("exitCode")}: ${f("stderrTail")}`;
    case "ActivationDeferred":
      return `deferred to next boot (${f("component")})`;
    case "ProbeTopologyDeclared":
      return `probes: ${probes(event["probes"])}`;
    case "ProbeObservedFirst":
    case "ProbeFailureFirst":
      return `${f("probeName")} (${f("mode")})`;
    case "ProbeResult": {
      const reason = event["failureReason"];
      const tail = typeof reason === "string" && reason !== "" ? `: ${text(reason)}` : "";
      return `${f("probeName")} ${f("status")} (${f("mode")})${tail}`;
    }
    case "Failed": {
      const failing = Array.isArray(event["failingProbes"])
        ? event["failingProbes"].map((p) => text(p)).join(", ")
        : "?";
      return `${f("policyApplied")} after ${f("sustainedDurationSecs")}s; failing: ${failing}`;
    }
    case "RollbackComplete":
      return `reverted to ${f("revertedToClosure")} (exit ${f("exitCode")})`;
    case "Converged":
      return `on ${f("currentClosure")}`;
    default:
      return "";
  }
}
