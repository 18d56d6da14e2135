// The hostile-request corpus (issue 11 (d)): every surface (JSON binding, Connect JSON, Connect
// proto, gRPC, gRPC-Web) with malformed syntax, wrong types, edge numbers, Unicode and NUL,
// oversize bodies, framing and compression lies; each case with the code it must get and, when
// the problem is one field, the field the answer must name.
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { PostEventRequestSchema } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { frame, PROTOCOL_HEADERS, type RawRequest } from "./raw-client.js";

export const ROLLOUT = "hostile@0e";
export const HOST = "h1";
/** The server under test runs with this --max-message-bytes. */
export const MAX_BYTES = 65_536;

export type Surface = "binding" | "connect-json" | "connect-proto" | "grpc" | "grpc-web";

/** One hostile request and what it must get. */
export interface HostileCase {
  readonly surface: Surface;
  readonly name: string;
  readonly request: RawRequest;
  readonly code: string;
  /** A text the answer's message must contain (the field's path, or the problem). */
  readonly names?: string;
}

const BINDING_PATH = "/v1/agent/events";
const RPC_PATH = "/nixfleet.agent.v1.AgentEventsService/PostEvent";
const AT = "2026-05-16T01:27:01Z";

type Json = Record<string, unknown>;
const clone = <T>(v: T): T => structuredClone(v);

// Binding bodies of a few kinds, each valid for a host in Pending or (when not Pending) at
// least past decoding: every hostile variant must fail before it could apply.
const BINDING: Record<string, Json> = {
  DispatchAck: { kind: "DispatchAck", currentClosureAtDispatch: "prev", receivedAt: AT, seq: 1 },
  ActivationCompleted: {
    kind: "ActivationCompleted",
    observedCurrentClosure: "next",
    exitCode: 0,
    completedAt: AT,
    seq: 1,
  },
  ActivationFailed: {
    kind: "ActivationFailed",
    exitCode: 1,
    stderrTail: "boom",
    failedAt: AT,
    seq: 1,
  },
  ProbeResult: {
    kind: "ProbeResult",
    probeName: "p",
    mode: "enforce",
    status: "fail",
    observedAt: AT,
    failureReason: "r",
    subResults: [
      {
        controlId: "c",
        status: "fail",
        framework: "f",
        article: "a",
        effectiveMode: "observe",
        overrideReason: "o",
      },
    ],
    seq: 1,
  },
  Failed: {
    kind: "Failed",
    failedAt: AT,
    sustainedDurationSecs: 120,
    failingProbes: ["p"],
    policyApplied: "halt",
    seq: 1,
  },
};

const bindingBody = (event: Json, envelope: Json = {}): Json => ({
  hostname: HOST,
  rolloutId: ROLLOUT,
  event,
  ...envelope,
});

function binding(
  name: string,
  body: string | Uint8Array,
  code: string,
  names?: string,
  headers: Record<string, string> = {},
  method = "POST",
): HostileCase {
  return {
    surface: "binding",
    name,
    request: {
      path: BINDING_PATH,
      method,
      headers: { "content-type": "application/json", ...headers },
      body,
    },
    code,
    ...(names === undefined ? {} : { names }),
  };
}

const MALFORMED_JSON: [string, string | Uint8Array][] = [
  ["empty", ""],
  ["space", " "],
  ["open brace", "{"],
  ["close brace", "}"],
  ["open bracket", "["],
  ["missing value", '{"hostname":}'],
  ["trailing comma", '{"hostname":"h1",}'],
  ["single quotes", "{'hostname':'h1'}"],
  ["NaN", '{"seq":NaN}'],
  ["Infinity", '{"seq":Infinity}'],
  ["comment", "/* c */{}"],
  ["two objects", '{"a":1}{"b":2}'],
  ["bad escape", '{"a":"\\x41"}'],
  ["short unicode escape", '{"a":"\\u12"}'],
  ["unterminated string", '{"a":"abc'],
  ["deep arrays", "[".repeat(20_000)],
  ["deep objects", '{"a":'.repeat(5000)],
  ["invalid UTF-8", Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
  ["overlong UTF-8", Uint8Array.from([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x3a, 0x31, 0x7d])],
  [
    "UTF-8 encoded surrogate",
    Uint8Array.from([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x3a, 0x31, 0x7d]),
  ],
  ["truncated multibyte", Uint8Array.from([0x7b, 0x22, 0xe2, 0x82, 0x22, 0x3a, 0x31, 0x7d])],
  ["raw control character", '{"hostname":"h\u00011"}'],
];

const WRONG_TYPES: unknown[] = [123, true, {}, [], "x"];
const BAD_DATES = [
  "2026-02-30T00:00:00Z",
  "2025-02-29T00:00:00Z",
  "2026-05-16T24:00:00Z",
  "2026-05-16T23:60:00Z",
  "2026-05-16T23:59:60Z",
  "2026-05-16",
  "01:27:01Z",
  "2026-05-16T01:27:01",
  "2026-05-16T01:27:01+25:00",
  "0000-01-01T00:00:00Z",
  "10000-01-01T00:00:00Z",
  "2026-05-16T01:27:01.1234567890Z",
  "2026-5-16T01:27:01Z",
  " 2026-05-16T01:27:01Z",
  "",
];
const BAD_TEXT = ["a\u0000b", "\u0000", "prev\ud800", "\udfff", "x\ud83d"];

/** Every field path of an event object with its value, for type mutations. */
function leaves(event: Json): [string[], unknown][] {
  const out: [string[], unknown][] = [];
  const walk = (v: unknown, path: string[]) => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        walk(x, [...path, String(i)]);
      });
    } else if (v !== null && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
    } else out.push([path, v]);
  };
  walk(event, []);
  return out;
}

function setPath(target: Json, path: string[], value: unknown): void {
  let node: Record<string, unknown> = target;
  for (const p of path.slice(0, -1)) node = node[p] as Record<string, unknown>;
  node[path[path.length - 1] as string] = value;
}

const bindingField = (path: string[]) =>
  `event${path.map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join("")}`;

const OPTIONAL = new Set(["failureReason", "article", "effectiveMode", "overrideReason"]);

function bindingCases(): HostileCase[] {
  const cases: HostileCase[] = [];
  for (const [name, body] of MALFORMED_JSON) {
    cases.push(binding(`malformed JSON: ${name}`, body, "invalid_argument", "body"));
  }
  for (const [name, body, field] of [
    ["array body", "[]", "body"],
    ["null body", "null", "body"],
    ["number body", "1", "body"],
    ["string body", '"x"', "body"],
    ["empty object", "{}", "hostname"],
    // A UTF-8 byte order mark is skipped as the JSON RFC allows; the object then lacks fields.
    ["byte order mark", "\ufeff{}", "hostname"],
  ] as const) {
    cases.push(binding(name, body, "invalid_argument", field));
  }
  // Envelope fields of the wrong type.
  for (const key of ["hostname", "rolloutId", "event"]) {
    for (const value of [...WRONG_TYPES, null]) {
      if (key === "event" && typeof value === "object" && value !== null && !Array.isArray(value))
        continue;
      // A well-formed other hostname is a permission question, and any rollout id string a
      // question of whether the record exists (recorded), not a malformed body.
      if ((key === "hostname" || key === "rolloutId") && typeof value === "string") continue;
      const body = bindingBody(clone(BINDING["DispatchAck"] as Json));
      body[key] = value;
      cases.push(
        binding(`${key} = ${JSON.stringify(value)}`, JSON.stringify(body), "invalid_argument", key),
      );
    }
  }
  // Every event field of several kinds, with values of the wrong type.
  for (const [kind, event] of Object.entries(BINDING)) {
    for (const [path, original] of leaves(event)) {
      if (path[0] === "kind") continue;
      for (const value of [...WRONG_TYPES, null]) {
        if (typeof value === typeof original && value !== null) continue;
        if (value === null && OPTIONAL.has(path[path.length - 1] as string)) continue;
        if (
          typeof value === "object" &&
          value !== null &&
          path.length === 1 &&
          ["subResults", "failingProbes"].includes(path[0] as string) &&
          Array.isArray(value)
        )
          continue;
        const e = clone(event);
        setPath(e, path, value);
        const field = path[0] === "seq" ? "event.seq" : bindingField(path);
        cases.push(
          binding(
            `${kind}.${path.join(".")} = ${JSON.stringify(value)}`,
            JSON.stringify(bindingBody(e)),
            "invalid_argument",
            field,
          ),
        );
      }
    }
  }
  // Edge numbers.
  // seq 0 is not here: the binding reads it as the original did, a harmless duplicate.
  const numbers: [string, string, unknown][] = [
    ["DispatchAck", "seq", -1],
    ["DispatchAck", "seq", 1.5],
    ["DispatchAck", "seq", 2 ** 53],
    ["DispatchAck", "seq", 1e308],
    ["DispatchAck", "seq", 1e-7],
    ["ActivationCompleted", "exitCode", 2 ** 31],
    ["ActivationCompleted", "exitCode", -(2 ** 31) - 1],
    ["ActivationCompleted", "exitCode", 0.5],
    ["ActivationCompleted", "exitCode", 1e20],
    ["Failed", "sustainedDurationSecs", -1],
    ["Failed", "sustainedDurationSecs", 2 ** 53],
    ["Failed", "sustainedDurationSecs", 1.5],
  ];
  // Integers the original's serde took (any i64/u64) are read on the binding (SPEC §10): the
  // event then meets the state machine, which refuses it here (the host is Pending).
  const lenientNumbers = new Set([
    "exitCode=2147483648",
    "exitCode=-2147483649",
    "exitCode=100000000000000000000",
    "sustainedDurationSecs=9007199254740992",
  ]);
  for (const [kind, key, value] of numbers) {
    const e = clone(BINDING[kind] as Json);
    e[key] = value;
    const lenient = lenientNumbers.has(`${key}=${value}`);
    cases.push(
      binding(
        `${kind}.${key} = ${value}`,
        JSON.stringify(bindingBody(e)),
        lenient ? "failed_precondition" : "invalid_argument",
        lenient ? "illegal" : `event.${key}`,
      ),
    );
  }
  cases.push(
    binding(
      "seq as a huge literal",
      JSON.stringify(bindingBody(BINDING["DispatchAck"] as Json)).replace(
        '"seq":1',
        '"seq":18446744073709551617',
      ),
      "invalid_argument",
      "event.seq",
    ),
  );
  // Unicode and NUL in every text field.
  for (const [kind, event] of Object.entries(BINDING)) {
    for (const [path, original] of leaves(event)) {
      if (
        typeof original !== "string" ||
        ["kind", "mode", "status", "effectiveMode", "policyApplied"].includes(
          path[path.length - 1] as string,
        ) ||
        /At$/.test(path[path.length - 1] as string)
      )
        continue;
      for (const bad of BAD_TEXT) {
        const e = clone(event);
        setPath(e, path, bad);
        cases.push(
          binding(
            `${kind}.${path.join(".")} = ${JSON.stringify(bad)}`,
            JSON.stringify(bindingBody(e)),
            "invalid_argument",
            bindingField(path),
          ),
        );
      }
    }
  }
  for (const [key, value] of [
    ["hostname", "h\u00001"],
    ["hostname", "h\ud8001"],
    ["hostname", "h１"],
    ["hostname", "h1\u202e"],
    ["rolloutId", "hostile@0e\u0000"],
    ["rolloutId", "HOSTILE@0e"],
  ] as const) {
    const body = bindingBody(clone(BINDING["DispatchAck"] as Json));
    body[key] = value;
    // The binding takes any string as the original did: a hostname that is not the
    // certificate's is refused by identity, an odd rollout id names no record (recorded);
    // only text no store keeps is refused as unsafe input.
    const code =
      key === "hostname"
        ? "permission_denied"
        : value.includes("\u0000")
          ? "invalid_argument"
          : "not_found";
    // not_found names the rollout by its id, not the field.
    cases.push(
      binding(
        `${key} = ${JSON.stringify(value)}`,
        JSON.stringify(body),
        code,
        code === "permission_denied"
          ? "may not post events"
          : code === "not_found"
            ? "no record"
            : key,
      ),
    );
  }
  for (const date of BAD_DATES) {
    const e = clone(BINDING["DispatchAck"] as Json);
    e["receivedAt"] = date;
    cases.push(
      binding(
        `receivedAt = ${JSON.stringify(date)}`,
        JSON.stringify(bindingBody(e)),
        "invalid_argument",
        "event.receivedAt",
      ),
    );
  }
  // Oversize fields and bodies.
  const big: [string, string, unknown, string][] = [
    ["DispatchAck", "currentClosureAtDispatch", "x".repeat(1025), "event.currentClosureAtDispatch"],
    ["ProbeResult", "probeName", "p".repeat(257), "event.probeName"],
    ["ProbeResult", "failureReason", "r".repeat(4097), "event.failureReason"],
    ["ActivationFailed", "stderrTail", "e".repeat(65_537), "body"],
    [
      "Failed",
      "failingProbes",
      Array.from({ length: 257 }, (_, i) => `p${i}`),
      "event.failingProbes",
    ],
    [
      "ProbeResult",
      "subResults",
      Array.from({ length: 1025 }, () => ({ controlId: "c", status: "fail", framework: "f" })),
      "event.subResults",
    ],
  ];
  for (const [kind, key, value, field] of big) {
    const e = clone(BINDING[kind] as Json);
    e[key] = value;
    const body = JSON.stringify(bindingBody(e));
    const tooBig = body.length > MAX_BYTES;
    // Lists only reach the log: the binding takes them as the original did, and the state
    // machine then refuses the event (the host is Pending).
    const listOnly = Array.isArray(value);
    cases.push(
      binding(
        `${kind}.${key} oversize`,
        body,
        tooBig ? "payload_too_large" : listOnly ? "failed_precondition" : "invalid_argument",
        tooBig ? "exceeds" : listOnly ? "illegal" : field,
      ),
    );
  }
  cases.push(
    binding(
      "body over --max-message-bytes",
      `{"pad":"${"x".repeat(MAX_BYTES)}"}`,
      "payload_too_large",
      "exceeds",
    ),
  );
  // Envelope lies.
  for (const [name, envelope, field] of [
    ["signature not hex", { signature: "zz" }, "signature"],
    ["signature odd length", { signature: "abc" }, "signature"],
    ["signature too long", { signature: "ab".repeat(1025) }, "signature"],
    ["signature a number", { signature: 12 }, "signature"],
  ] as const) {
    cases.push(
      binding(
        name,
        JSON.stringify(bindingBody(clone(BINDING["DispatchAck"] as Json), envelope)),
        "invalid_argument",
        field,
      ),
    );
  }
  for (const kind of ["Bogus", "dispatchAck", "DISPATCHACK", ""]) {
    const e = { ...clone(BINDING["DispatchAck"] as Json), kind };
    cases.push(
      binding(
        `kind ${JSON.stringify(kind)}`,
        JSON.stringify(bindingBody(e)),
        "invalid_argument",
        "event.kind",
      ),
    );
  }
  cases.push(
    binding(
      "text/plain",
      JSON.stringify(bindingBody(BINDING["DispatchAck"] as Json)),
      "unsupported_media_type",
      "content-type",
      { "content-type": "text/plain" },
    ),
  );
  cases.push(
    binding(
      "application/jsonx",
      JSON.stringify(bindingBody(BINDING["DispatchAck"] as Json)),
      "unsupported_media_type",
      "content-type",
      { "content-type": "application/jsonx" },
    ),
  );
  cases.push(binding("GET", "", "method_not_allowed", "POST", {}, "GET"));
  cases.push(binding("PUT", "{}", "method_not_allowed", "POST", {}, "PUT"));
  return cases;
}

// ---- Connect JSON ------------------------------------------------------------------------

const PROTO_JSON: Json = {
  hostname: HOST,
  rolloutId: ROLLOUT,
  event: { seq: "1", dispatchAck: { currentClosureAtDispatch: "prev", receivedAt: AT } },
};
const PROTO_PROBE: Json = {
  hostname: HOST,
  rolloutId: ROLLOUT,
  event: {
    seq: "1",
    probeResult: {
      probeName: "p",
      mode: "PROBE_MODE_ENFORCE",
      status: "PROBE_STATUS_FAIL",
      observedAt: AT,
      failureReason: "r",
      subResults: [{ controlId: "c", status: "PROBE_STATUS_FAIL", framework: "f" }],
    },
  },
};

function connectJson(
  name: string,
  body: string | Uint8Array,
  code: string,
  names?: string,
  headers: Record<string, string> = {},
): HostileCase {
  return {
    surface: "connect-json",
    name,
    request: { path: RPC_PATH, headers: { ...PROTOCOL_HEADERS["connect-json"], ...headers }, body },
    code,
    ...(names === undefined ? {} : { names }),
  };
}

function connectJsonCases(): HostileCase[] {
  const cases: HostileCase[] = [];
  for (const [name, body] of MALFORMED_JSON)
    cases.push(connectJson(`malformed JSON: ${name}`, body, "invalid_argument"));
  const mutate = (base: Json, path: string[], value: unknown) => {
    const b = clone(base);
    setPath(b, path, value);
    return JSON.stringify(b);
  };
  const typed: [string[], unknown, string][] = [
    [["hostname"], 1, "hostname"],
    [["rolloutId"], true, "rollout"],
    [["event"], "x", "event"],
    [["event", "seq"], "abc", "seq"],
    [["event", "seq"], -1, "seq"],
    [["event", "seq"], 1.5, "seq"],
    [["event", "seq"], "18446744073709551616", "seq"],
    [["event", "seq"], "0", "event.seq"],
    [["event", "seq"], "9007199254740992", "event.seq"],
    [["event", "dispatchAck"], 5, "dispatch"],
    [["event", "dispatchAck", "currentClosureAtDispatch"], 7, "current_closure_at_dispatch"],
    [["event", "dispatchAck", "receivedAt"], 123, "event.dispatchAck.receivedAt"],
    [["event", "dispatchAck", "receivedAt"], {}, "event.dispatchAck.receivedAt"],
    [["bogus"], 1, "bogus"],
    [["event", "dispatchAck", "bogus"], 1, "bogus"],
  ];
  for (const [path, value, names] of typed) {
    cases.push(
      connectJson(
        `${path.join(".")} = ${JSON.stringify(value)}`,
        mutate(PROTO_JSON, path, value),
        "invalid_argument",
        names,
      ),
    );
  }
  const both = clone(PROTO_JSON);
  (both["event"] as Json)["activationStarted"] = { startedAt: AT, switchMethod: "x" };
  cases.push(
    connectJson("two kinds in the oneof", JSON.stringify(both), "invalid_argument", "oneof"),
  );
  for (const date of BAD_DATES) {
    cases.push(
      connectJson(
        `receivedAt = ${JSON.stringify(date)}`,
        mutate(PROTO_JSON, ["event", "dispatchAck", "receivedAt"], date),
        "invalid_argument",
        "event.dispatchAck.receivedAt",
      ),
    );
  }
  for (const [path, value, names] of [
    [["event", "probeResult", "mode"], "PROBE_MODE_BOGUS", "event.probeResult.mode"],
    [["event", "probeResult", "mode"], "enforce", "event.probeResult.mode"],
    [["event", "probeResult", "mode"], 99, "event.probeResult.mode"],
    [["event", "probeResult", "mode"], 1.5, "event.probeResult.mode"],
    [["event", "probeResult", "status"], true, "event.probeResult.status"],
    [
      ["event", "probeResult", "subResults", "0", "status"],
      "PASS",
      "event.probeResult.subResults[0].status",
    ],
    [
      ["event", "probeResult", "subResults", "0", "effectiveMode"],
      "PROBE_MODE_X",
      "event.probeResult.subResults[0].effectiveMode",
    ],
  ] as [string[], unknown, string][]) {
    cases.push(
      connectJson(
        `${path.join(".")} = ${JSON.stringify(value)}`,
        mutate(PROTO_PROBE, path, value),
        "invalid_argument",
        names,
      ),
    );
  }
  for (const path of [
    ["event", "probeResult", "probeName"],
    ["event", "probeResult", "failureReason"],
    ["event", "probeResult", "subResults", "0", "controlId"],
    ["event", "probeResult", "subResults", "0", "framework"],
  ]) {
    for (const bad of BAD_TEXT) {
      cases.push(
        connectJson(
          `${path.join(".")} = ${JSON.stringify(bad)}`,
          mutate(PROTO_PROBE, path, bad),
          "invalid_argument",
        ),
      );
    }
  }
  cases.push(
    connectJson(
      "body over --max-message-bytes",
      `{"hostname":"${"x".repeat(MAX_BYTES)}"}`,
      "resource_exhausted",
      "exceeds",
    ),
  );
  cases.push(
    connectJson(
      "gzip claimed, plain sent",
      JSON.stringify(PROTO_JSON),
      "invalid_argument",
      "gzip",
      { "content-encoding": "gzip" },
    ),
  );
  cases.push(
    connectJson(
      "unknown compression",
      JSON.stringify(PROTO_JSON),
      "invalid_argument",
      "compression",
      { "content-encoding": "zstd" },
    ),
  );
  cases.push(
    connectJson(
      "gzip bomb",
      gzipSync(Buffer.alloc(4 * MAX_BYTES, 0x20)),
      "resource_exhausted",
      "exceeds",
      { "content-encoding": "gzip" },
    ),
  );
  return cases;
}

// ---- binary surfaces ---------------------------------------------------------------------

function varint(n: bigint): number[] {
  const out: number[] = [];
  let v = n;
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}
const tag = (no: number, wt: number) => varint(BigInt(no * 8 + wt));
const ld = (no: number, bytes: number[]) => [
  ...tag(no, 2),
  ...varint(BigInt(bytes.length)),
  ...bytes,
];
const str = (no: number, s: string) => ld(no, [...Buffer.from(s)]);
const ack = (closure: number[]) => [
  ...ld(1, closure),
  ...ld(2, [...tag(1, 0), ...varint(1_778_894_821n)]),
];
function request(
  seqBytes: number[],
  ackBytes = ack([...Buffer.from("prev")]),
  hostname = str(1, HOST),
): number[] {
  const event = [...tag(1, 0), ...seqBytes, ...ld(2, ackBytes)];
  return [...hostname, ...str(2, ROLLOUT), ...ld(3, event)];
}

/** Binary payloads every binary surface must refuse, with the code and a text the answer names. */
function binaryPayloads(): [string, Uint8Array, string, string | undefined][] {
  const valid = toBinary(
    PostEventRequestSchema,
    create(PostEventRequestSchema, {
      hostname: HOST,
      rolloutId: ROLLOUT,
      event: {
        seq: 1n,
        kind: {
          case: "dispatchAck",
          value: { currentClosureAtDispatch: "prev", receivedAt: { seconds: 1_778_894_821n } },
        },
      },
    }),
  );
  const out: [string, Uint8Array, string, string | undefined][] = [];
  for (let cut = 0; cut < valid.length; cut++) {
    out.push([
      `truncated at ${cut}/${valid.length}`,
      valid.subarray(0, cut),
      "invalid_argument",
      undefined,
    ]);
  }
  const p = (name: string, bytes: number[], names?: string, code = "invalid_argument") =>
    out.push([name, Uint8Array.from(bytes), code, names]);
  p(
    "11-byte varint seq",
    request([0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
    "event.seq",
  );
  p(
    "10-byte varint seq above 64 bits",
    request([0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02]),
    "event.seq",
  );
  p(
    "10-byte varint seq 2^63+1",
    request([0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
    "event.seq",
  );
  p("seq 0", request([0x00]), "event.seq");
  p("seq 2^53", request(varint(2n ** 53n)), "event.seq");
  p("11-byte tag", [0x8a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], "varint");
  p("length 2^40", [...tag(1, 2), ...varint(2n ** 40n)], "truncated");
  p("hostname as varint", [...tag(1, 0), 5, ...str(2, ROLLOUT)], "hostname");
  p("hostname as fixed64", [...tag(1, 1), 1, 2, 3, 4, 5, 6, 7, 8], "hostname");
  p(
    "seq as length-delimited",
    request([])
      .slice(0, 0)
      .concat([...str(1, HOST), ...str(2, ROLLOUT), ...ld(3, [...ld(1, [1])])]),
    "event.seq",
  );
  p("event as varint", [...str(1, HOST), ...str(2, ROLLOUT), ...tag(3, 0), 1], "event");
  p("wire type 6", [...tag(1, 6), 0], "wire type");
  p("wire type 7", [...tag(9, 7), 0], "wire type");
  p("field number 0", [0x02, 0x00], "field number 0");
  p("group never closed", [...tag(9, 3), ...tag(10, 0), 1], "group");
  p("end group without start", [...tag(9, 4)], "end-group");
  p(
    "groups 100 deep",
    [
      ...Array.from({ length: 100 }, () => tag(9, 3)).flat(),
      ...Array.from({ length: 100 }, () => tag(9, 4)).flat(),
    ],
    "deeper",
  );
  p("fixed64 truncated", [...tag(9, 1), 1, 2, 3], "truncated");
  p("invalid UTF-8 hostname", [...ld(1, [0xff, 0xfe]), ...str(2, ROLLOUT)]);
  p("invalid UTF-8 closure", request([1], ack([0xc0, 0xaf])));
  p("UTF-8 surrogate in closure", request([1], ack([0xed, 0xa0, 0x80])));
  p("NUL in closure", request([1], ack([0x70, 0x00, 0x71])), "currentClosureAtDispatch");
  p("NUL in hostname", request([1], undefined, str(1, "h\u00001")), "hostname");
  p("empty message", [], "hostname");
  p(
    "oversize",
    [
      ...ld(
        1,
        Array.from({ length: MAX_BYTES + 10 }, () => 0x61),
      ),
    ],
    "exceeds",
    "resource_exhausted",
  );
  return out;
}

function binaryCases(): HostileCase[] {
  const cases: HostileCase[] = [];
  for (const [name, bytes, code, names] of binaryPayloads()) {
    const base = { code, ...(names === undefined ? {} : { names }) };
    cases.push({
      surface: "connect-proto",
      name,
      request: { path: RPC_PATH, headers: PROTOCOL_HEADERS["connect-proto"], body: bytes },
      ...base,
    });
    cases.push({
      surface: "grpc",
      name,
      request: { path: RPC_PATH, headers: PROTOCOL_HEADERS.grpc, body: frame(bytes) },
      ...base,
    });
    cases.push({
      surface: "grpc-web",
      name,
      request: { path: RPC_PATH, headers: PROTOCOL_HEADERS["grpc-web"], body: frame(bytes) },
      ...base,
    });
  }
  const good = Uint8Array.from(request([1]));
  for (const surface of ["grpc", "grpc-web"] as const) {
    const headers = PROTOCOL_HEADERS[surface];
    const f = (
      name: string,
      body: Uint8Array,
      names: string,
      extra: Record<string, string> = {},
      code = "invalid_argument",
    ) =>
      cases.push({
        surface,
        name,
        request: { path: RPC_PATH, headers: { ...headers, ...extra }, body },
        code,
        names,
      });
    for (const flags of [0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff, 0x03]) {
      f(`frame flags 0x${flags.toString(16)}`, frame(good, flags), "reserved bits");
    }
    const framed = frame(good);
    const lie = (delta: number) => {
      const b = Buffer.from(framed);
      b.writeUInt32BE(good.length + delta, 1);
      return b;
    };
    f("frame length one too many", lie(1), "declares");
    f("frame length 1000 too many", lie(1000), "declares");
    const huge = Buffer.from(framed);
    huge.writeUInt32BE(0xffffffff, 1);
    f("frame length 2^32-1", huge, "declares");
    f("data after the frame", Buffer.concat([framed, Buffer.from([1, 2])]), "exactly one message");
    f("two frames", Buffer.concat([framed, framed]), "exactly one message");
    f("no frame", new Uint8Array(0), "no message");
    f("truncated frame header", framed.subarray(0, 3), "truncated frame header");
    f("compressed flag without grpc-encoding", frame(good, 1), "names no grpc-encoding");
    f("grpc-encoding gzip, plain payload", frame(good, 1), "gzip", { "grpc-encoding": "gzip" });
    f("grpc-encoding br, plain payload", frame(good, 1), "br", { "grpc-encoding": "br" });
    f("truncated gzip", frame(gzipSync(good).subarray(0, 10), 1), "gzip", {
      "grpc-encoding": "gzip",
    });
    f("unknown grpc-encoding", frame(good, 1), "compression", { "grpc-encoding": "zstd" });
    f(
      "gzip bomb",
      frame(gzipSync(Buffer.alloc(4 * MAX_BYTES)), 1),
      "exceeds",
      { "grpc-encoding": "gzip" },
      "resource_exhausted",
    );
  }
  return cases;
}

/** The whole corpus. */
export function hostileCorpus(): HostileCase[] {
  return [...bindingCases(), ...connectJsonCases(), ...binaryCases()];
}
