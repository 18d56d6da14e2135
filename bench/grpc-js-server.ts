// The grpc-js baseline: what a Node user would pick for gRPC, @grpc/grpc-js with
// @grpc/proto-loader on the same protos and certificates, an empty PostEvent answering APPLIED.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const repo = new URL("..", import.meta.url).pathname;

/** What the grpc-js baseline listens with. */
export interface GrpcJsServerOptions {
  readonly certPath: string;
  readonly keyPath: string;
  readonly caPath: string;
  readonly host: string;
  readonly port: number;
  /** The largest request accepted, as nixfleet-cp's readMaxBytes. */
  readonly maxMessageBytes: number;
}

/** The same answer nixfleet-cp sends for an applied event (outcome first, so the driver reads it). */
const APPLIED = {
  outcome: "OUTCOME_APPLIED",
  state: "HOST_STATE_ACTIVATING",
  lastEventSeq: "1",
};

/** Starts the server; resolves with the bound port. gRPC only: no Connect, no binding. */
export async function serveGrpcJs(
  options: GrpcJsServerOptions,
): Promise<{ port: number; stop(): void }> {
  const definition = await protoLoader.load("nixfleet/agent/v1/agent_events_service.proto", {
    includeDirs: [join(repo, "proto"), join(repo, "third_party/proto")],
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    nixfleet: { agent: { v1: { AgentEventsService: grpc.ServiceClientConstructor } } };
  };
  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.maxMessageBytes,
    "grpc.max_send_message_length": 16 * 1024 * 1024,
  });
  server.addService(loaded.nixfleet.agent.v1.AgentEventsService.service, {
    PostEvent(_call: unknown, callback: grpc.sendUnaryData<typeof APPLIED>) {
      callback(null, APPLIED);
    },
  });
  // requestCert + rejectUnauthorized, as the other servers: a client without a certificate
  // signed by the fleet CA is refused during the handshake.
  const credentials = grpc.ServerCredentials.createSsl(
    readFileSync(options.caPath),
    [{ cert_chain: readFileSync(options.certPath), private_key: readFileSync(options.keyPath) }],
    true,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${options.host}:${options.port}`, credentials, (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return { port, stop: () => server.forceShutdown() };
}
