// A client nobody on this project wrote: @grpc/grpc-js with its own proto loading straight from
// proto/ and third_party/proto/ (not gen/), promisified, plus a decoder for the
// google.rpc.Status in grpc-status-details-bin written from the protobuf wire format.
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { Identity, TestPki } from "../e2e/harness.js";

const root = new URL("../../", import.meta.url).pathname;

const definition = protoLoader.loadSync(
  ["nixfleet/agent/v1/agent_events_service.proto", "nixfleet/ops/v1/rollout_service.proto"],
  {
    includeDirs: [`${root}proto`, `${root}third_party/proto`],
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  },
);
// biome-ignore lint/suspicious/noExplicitAny: grpc-js builds its client classes at run time.
const loaded = grpc.loadPackageDefinition(definition) as any;
const AgentEventsService = loaded.nixfleet.agent.v1
  .AgentEventsService as grpc.ServiceClientConstructor;
const RolloutService = loaded.nixfleet.ops.v1.RolloutService as grpc.ServiceClientConstructor;

/** What a failed call reports to its caller. */
export type CallError = grpc.ServiceError;

/** A message as proto-loader shapes it (camelCase fields, strings for 64-bit ints and enums). */
export type Message = Record<string, unknown>;

/** One promisified unary method. */
export type Unary = (request: Message) => Promise<Message>;

/** A grpc-js client of one service over mTLS. */
export interface GrpcJsClient {
  unary(method: string): Unary;
  stream(method: string, request: Message): grpc.ClientReadableStream<Message>;
  close(): void;
}

function connect(
  ctor: grpc.ServiceClientConstructor,
  port: number,
  pki: TestPki,
  identity: Identity,
): GrpcJsClient {
  const credentials = grpc.credentials.createSsl(
    Buffer.from(pki.ca),
    Buffer.from(identity.key),
    Buffer.from(identity.cert),
  );
  // One channel per client so a test's calls share one HTTP/2 connection, as an agent's would.
  const client = new ctor(`127.0.0.1:${port}`, credentials, {
    "grpc.use_local_subchannel_pool": 1,
    // The test server listens on 127.0.0.1 only; its certificate also names localhost.
    "grpc.ssl_target_name_override": "localhost",
  });
  const methods = client as unknown as Record<string, (...args: unknown[]) => unknown>;
  return {
    unary: (method) => (request) =>
      new Promise((resolve, reject) => {
        const call = methods[method];
        if (call === undefined) throw new Error(`no method ${method}`);
        call.call(client, request, (error: grpc.ServiceError | null, response: Message) =>
          error ? reject(error) : resolve(response),
        );
      }),
    stream(method, request) {
      const call = methods[method];
      if (call === undefined) throw new Error(`no method ${method}`);
      return call.call(client, request) as grpc.ClientReadableStream<Message>;
    },
    close: () => client.close(),
  };
}

/** nixfleet.agent.v1.AgentEventsService through grpc-js. */
export function agentClient(port: number, pki: TestPki, identity: Identity): GrpcJsClient {
  return connect(AgentEventsService, port, pki, identity);
}

/** nixfleet.ops.v1.RolloutService through grpc-js. */
export function rolloutClient(port: number, pki: TestPki, identity: Identity): GrpcJsClient {
  return connect(RolloutService, port, pki, identity);
}

/** The error of a call that must fail. */
export async function failure(call: Promise<unknown>): Promise<CallError> {
  try {
    await call;
  } catch (error) {
    return error as CallError;
  }
  throw new Error("the call succeeded");
}

/** A DispatchAck (by default for seq 1) or an ActivationStarted (other seqs) request. */
export function eventRequest(
  hostname: string,
  rolloutId: string,
  seq: number,
  kind: "dispatchAck" | "activationStarted" = seq === 1 ? "dispatchAck" : "activationStarted",
): Message {
  const event =
    kind === "dispatchAck"
      ? { dispatchAck: { currentClosureAtDispatch: "prev", receivedAt: { seconds: "1778894821" } } }
      : {
          activationStarted: {
            startedAt: { seconds: String(1778894821 + seq) },
            switchMethod: "systemd-run",
          },
        };
  return { hostname, rolloutId, event: { seq: String(seq), ...event } };
}

/** A google.rpc.Status as read from grpc-status-details-bin. */
export interface DecodedStatus {
  readonly code: number;
  readonly message: string;
  readonly details: readonly { typeUrl: string; value: Buffer }[];
}

/** Decodes the google.rpc.Status a failed call carries, if any. */
export function statusDetails(error: CallError): DecodedStatus | undefined {
  const [bin] = error.metadata.get("grpc-status-details-bin");
  if (bin === undefined) return undefined;
  const status = { code: 0, message: "", details: [] as { typeUrl: string; value: Buffer }[] };
  for (const [field, value] of fields(Buffer.from(bin as Buffer))) {
    if (field === 1 && typeof value === "bigint") status.code = Number(value);
    if (field === 2 && Buffer.isBuffer(value)) status.message = value.toString("utf8");
    if (field === 3 && Buffer.isBuffer(value)) {
      const any: { typeUrl: string; value: Buffer } = { typeUrl: "", value: Buffer.alloc(0) };
      for (const [f, v] of fields(value)) {
        if (f === 1 && Buffer.isBuffer(v)) any.typeUrl = v.toString("utf8");
        if (f === 2 && Buffer.isBuffer(v)) any.value = v;
      }
      status.details.push(any);
    }
  }
  return status;
}

/** The retry delay in seconds of the google.rpc.RetryInfo detail of a failed call. */
export function retryDelaySeconds(error: CallError): number | undefined {
  const info = statusDetails(error)?.details.find(
    (d) => d.typeUrl === "type.googleapis.com/google.rpc.RetryInfo",
  );
  if (info === undefined) return undefined;
  let seconds = 0;
  for (const [field, duration] of fields(info.value)) {
    if (field !== 1 || !Buffer.isBuffer(duration)) continue; // retry_delay
    for (const [f, v] of fields(duration))
      if (f === 1 && typeof v === "bigint") seconds = Number(v);
  }
  return seconds;
}

/** The fields of a protobuf message: varints as bigint, length-delimited as Buffer. */
function* fields(bytes: Buffer): Generator<[number, bigint | Buffer]> {
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = bytes[at++];
      if (byte === undefined) throw new Error("truncated varint");
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
  };
  while (at < bytes.length) {
    const key = Number(varint());
    const wire = key & 7;
    if (wire === 0) yield [key >> 3, varint()];
    else if (wire === 2) {
      const length = Number(varint());
      yield [key >> 3, bytes.subarray(at, at + length)];
      at += length;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
}
