// The events one simulated agent posts for one host in one rollout, in seq order: a clean
// activation, probes declared and passing, then Converged (the rollout's soak is 0).
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  type PostEventRequest,
  PostEventRequestSchema,
} from "../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { ProbeMode, ProbeStatus } from "../gen/nixfleet/agent/v1/events_pb.js";

/** One event in both encodings: the binding's JSON body and the proto request. */
export interface BenchEvent {
  readonly kind: string;
  /** The SPEC §3.2 body of POST /v1/agent/events. */
  readonly binding: Record<string, unknown>;
  /** The same event as a PostEventRequest message. */
  readonly proto: PostEventRequest;
}

/** The closure a rollout asks `host` to run; Converged must report exactly this one. */
export function targetClosure(rolloutId: string, host: string): string {
  const ref = rolloutId.slice(rolloutId.indexOf("@") + 1);
  return `${ref.padEnd(32, "0").slice(0, 32)}-nixos-system-${host}`;
}

/** Events per lane for a given number of ProbeResult events. */
export function eventsPerLane(probeResults: number): number {
  return 6 + probeResults;
}

/**
 * The lane's events, seq 1..n. Timestamps start at `t0Ms`, which must not precede the
 * rollout's opening: Converged is only legal once the (zero) soak is due.
 */
export function laneEvents(
  host: string,
  rolloutId: string,
  t0Ms: number,
  probeResults: number,
): BenchEvent[] {
  const target = targetClosure(rolloutId, host);
  const previous = `${"a".repeat(32)}-nixos-system-${host}-prev`;
  const at = (seq: number) => t0Ms + seq * 1000;
  const iso = (seq: number) => new Date(at(seq)).toISOString();
  const ts = (seq: number) => timestampFromMs(at(seq));
  const out: BenchEvent[] = [];
  const push = (
    kind: string,
    bindingFields: Record<string, unknown>,
    protoCase: string,
    protoValue: Record<string, unknown>,
  ) => {
    const seq = out.length + 1;
    out.push({
      kind,
      binding: { hostname: host, rolloutId, event: { kind, ...bindingFields, seq } },
      proto: create(PostEventRequestSchema, {
        hostname: host,
        rolloutId,
        event: { seq: BigInt(seq), kind: { case: protoCase, value: protoValue } as never },
      }),
    });
  };
  const next = () => out.length + 1;

  let s = next();
  push("DispatchAck", { currentClosureAtDispatch: previous, receivedAt: iso(s) }, "dispatchAck", {
    currentClosureAtDispatch: previous,
    receivedAt: ts(s),
  });
  s = next();
  push(
    "ActivationStarted",
    { startedAt: iso(s), switchMethod: "systemd-run" },
    "activationStarted",
    { startedAt: ts(s), switchMethod: "systemd-run" },
  );
  s = next();
  push(
    "ActivationCompleted",
    { observedCurrentClosure: target, exitCode: 0, completedAt: iso(s) },
    "activationCompleted",
    { observedCurrentClosure: target, exitCode: 0, completedAt: ts(s) },
  );
  s = next();
  push(
    "ProbeTopologyDeclared",
    {
      probes: [
        { probeName: "nginx-version", kind: "http", mode: "enforce" },
        { probeName: "evidence-nis2", kind: "evidence", mode: "observe" },
      ],
      declaredAt: iso(s),
    },
    "probeTopologyDeclared",
    {
      probes: [
        { probeName: "nginx-version", kind: "http", mode: ProbeMode.ENFORCE },
        { probeName: "evidence-nis2", kind: "evidence", mode: ProbeMode.OBSERVE },
      ],
      declaredAt: ts(s),
    },
  );
  s = next();
  push(
    "ProbeObservedFirst",
    { probeName: "nginx-version", mode: "enforce", observedAt: iso(s) },
    "probeObservedFirst",
    { probeName: "nginx-version", mode: ProbeMode.ENFORCE, observedAt: ts(s) },
  );
  for (let i = 0; i < probeResults; i++) {
    s = next();
    if (i % 2 === 1) {
      // The evidence probe (observe mode) carries per-control sub-results, as real ones do.
      push(
        "ProbeResult",
        {
          probeName: "evidence-nis2",
          mode: "observe",
          status: "pass",
          observedAt: iso(s),
          subResults: [
            { controlId: "A.8.1", status: "pass", framework: "nis2", article: "21.2.h" },
            {
              controlId: "enc-at-rest",
              status: "pass",
              framework: "nis2",
              effectiveMode: "observe",
              overrideReason: "Q2 audit window",
            },
          ],
        },
        "probeResult",
        {
          probeName: "evidence-nis2",
          mode: ProbeMode.OBSERVE,
          status: ProbeStatus.PASS,
          observedAt: ts(s),
          subResults: [
            { controlId: "A.8.1", status: ProbeStatus.PASS, framework: "nis2", article: "21.2.h" },
            {
              controlId: "enc-at-rest",
              status: ProbeStatus.PASS,
              framework: "nis2",
              effectiveMode: ProbeMode.OBSERVE,
              overrideReason: "Q2 audit window",
            },
          ],
        },
      );
    } else {
      push(
        "ProbeResult",
        { probeName: "nginx-version", mode: "enforce", status: "pass", observedAt: iso(s) },
        "probeResult",
        {
          probeName: "nginx-version",
          mode: ProbeMode.ENFORCE,
          status: ProbeStatus.PASS,
          observedAt: ts(s),
        },
      );
    }
  }
  s = next();
  push("Converged", { convergedAt: iso(s), currentClosure: target }, "converged", {
    convergedAt: ts(s),
    currentClosure: target,
  });
  return out;
}
