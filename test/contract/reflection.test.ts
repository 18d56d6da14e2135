// Drives grpc.reflection v1 and v1alpha through a connect-node gRPC client against a real h2c
// server, checking each request kind, per-stream file dedup and errors.
import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { create, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import {
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
} from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import {
  type ServerReflectionResponse as ResponseV1,
  ServerReflection as ServerReflectionV1,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { AgentEventsService } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { RolloutService } from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { createHealthState } from "../../src/server/health/health-state.js";
import { registerHealth } from "../../src/server/health/register-health.js";
import type { ReflectionRequest } from "../../src/server/reflection/reflection-responder.js";
import { registerReflection } from "../../src/server/reflection/register-reflection.js";

// Plain (not v1 or v1alpha) requests, so the same list can go to both services.
type MessageRequest = ReflectionRequest;
type MessageResponse = ResponseV1["messageResponse"];

const ALL_SERVICES = [
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
  "nixfleet.agent.v1.AgentEventsService",
  "nixfleet.ops.v1.RolloutService",
];
// google.api.http, the only extension in the schema: a MethodOptions extension.
const HTTP_RULE_EXTENSION = 72295728;

let server: http2.Http2Server;
const sessions = new Set<http2.ServerHttp2Session>();
let baseUrl: string;

before(async () => {
  const routes = (router: ConnectRouter): void => {
    router.service(AgentEventsService, {});
    router.service(RolloutService, {});
    registerHealth(router, createHealthState());
    registerReflection(router, [AgentEventsService, RolloutService, Health]);
  };
  server = http2.createServer(connectNodeAdapter({ routes }));
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  for (const session of sessions) session.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const transport = () => createGrpcTransport({ baseUrl });

/** Sends `requests` on one v1 stream and collects the answers' message_response. */
async function askV1(...requests: MessageRequest[]): Promise<MessageResponse[]> {
  const client = createClient(ServerReflectionV1, transport());
  const answers: MessageResponse[] = [];
  async function* send() {
    for (const messageRequest of requests) yield { host: "localhost", messageRequest };
  }
  for await (const response of client.serverReflectionInfo(send())) {
    assert.equal(response.validHost, "localhost");
    answers.push(response.messageResponse);
  }
  return answers;
}

/** The same over v1alpha, answers re-shaped as v1 (the messages are field-for-field equal). */
async function askV1alpha(...requests: MessageRequest[]): Promise<MessageResponse[]> {
  const client = createClient(ServerReflectionV1alpha, transport());
  const answers: MessageResponse[] = [];
  async function* send() {
    for (const messageRequest of requests) yield { host: "localhost", messageRequest };
  }
  for await (const response of client.serverReflectionInfo(send())) {
    answers.push(stripTypeNames(response.messageResponse) as MessageResponse);
  }
  return answers;
}

function stripTypeNames(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripTypeNames);
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== "$typeName")
      .map(([key, v]) => [key, stripTypeNames(v)]),
  );
}

function fileNames(answer: MessageResponse | undefined): string[] {
  assert.equal(answer?.case, "fileDescriptorResponse", JSON.stringify(answer));
  return answer.value.fileDescriptorProto.map(
    (bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name,
  );
}

function errorCode(answer: MessageResponse | undefined): number {
  assert.equal(answer?.case, "errorResponse", JSON.stringify(answer));
  return answer.value.errorCode;
}

const symbol = (value: string): MessageRequest => ({ case: "fileContainingSymbol", value });

describe("grpc.reflection.v1.ServerReflection", () => {
  test("list_services names every registered service, reflection and health included", async () => {
    const [answer] = await askV1({ case: "listServices", value: "" });
    assert.equal(answer?.case, "listServicesResponse");
    assert.deepEqual(
      answer.value.service.map((s) => s.name),
      ALL_SERVICES,
    );
  });

  test("file_containing_symbol for a message returns its file and every transitive import", async () => {
    const [answer] = await askV1(symbol("nixfleet.agent.v1.PostEventRequest"));
    const names = fileNames(answer);
    assert.equal(names[0], "nixfleet/agent/v1/agent_events_service.proto");
    assert.deepEqual([...names].sort(), [
      "google/api/annotations.proto",
      "google/api/http.proto",
      "google/protobuf/descriptor.proto",
      "google/protobuf/timestamp.proto",
      "nixfleet/agent/v1/agent_events_service.proto",
      "nixfleet/agent/v1/events.proto",
    ]);
  });

  test("the returned files form a complete schema a client can build a registry from", async () => {
    const [answer] = await askV1(symbol("nixfleet.ops.v1.RolloutService"));
    assert.equal(answer?.case, "fileDescriptorResponse");
    const files = answer.value.fileDescriptorProto.map((b) =>
      fromBinary(FileDescriptorProtoSchema, b),
    );
    const byName = new Map(files.map((f) => [f.name, f]));
    // Order imports first, as createFileRegistry wants; a missing import fails here.
    const ordered: FileDescriptorProto[] = [];
    const visit = (name: string): void => {
      const file = byName.get(name);
      assert.ok(file, `import ${name} missing from the answer`);
      if (ordered.includes(file)) return;
      for (const dep of file.dependency) visit(dep);
      ordered.push(file);
    };
    for (const file of files) visit(file.name);
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
    const service = registry.getService("nixfleet.ops.v1.RolloutService");
    assert.deepEqual(
      service?.methods.map((m) => m.name),
      RolloutService.methods.map((m) => m.name),
    );
    assert.ok(registry.getMessage("google.protobuf.Struct"));
  });

  test("a stream sends each import once but always sends the file asked for", async () => {
    const answers = await askV1(
      symbol("nixfleet.agent.v1.PostEventRequest"),
      symbol("nixfleet.agent.v1.AgentEvent"),
      symbol("nixfleet.agent.v1.PostEventResponse"),
      symbol("nixfleet.ops.v1.RolloutService"),
    );
    assert.equal(fileNames(answers[0]).length, 6);
    assert.deepEqual(fileNames(answers[1]), ["nixfleet/agent/v1/events.proto"]);
    assert.deepEqual(fileNames(answers[2]), ["nixfleet/agent/v1/agent_events_service.proto"]);
    assert.deepEqual(fileNames(answers[3]).sort(), [
      "google/protobuf/duration.proto",
      "google/protobuf/struct.proto",
      "nixfleet/ops/v1/host_rollout.proto",
      "nixfleet/ops/v1/rollout_service.proto",
    ]);
    // A new stream starts over.
    const [fresh] = await askV1(symbol("nixfleet.agent.v1.AgentEvent"));
    assert.deepEqual(fileNames(fresh), [
      "nixfleet/agent/v1/events.proto",
      "google/protobuf/timestamp.proto",
    ]);
  });

  test("file_containing_symbol finds services, methods, fields, oneofs, enums and nested types", async () => {
    const cases: [string, string][] = [
      ["nixfleet.agent.v1.AgentEventsService", "nixfleet/agent/v1/agent_events_service.proto"],
      ["nixfleet.ops.v1.RolloutService.WatchRollout", "nixfleet/ops/v1/rollout_service.proto"],
      [
        "nixfleet.agent.v1.PostEventRequest.hostname",
        "nixfleet/agent/v1/agent_events_service.proto",
      ],
      ["nixfleet.agent.v1.AgentEvent.kind", "nixfleet/agent/v1/events.proto"],
      ["nixfleet.agent.v1.HostState", "nixfleet/agent/v1/agent_events_service.proto"],
      ["nixfleet.agent.v1.OUTCOME_APPLIED", "nixfleet/agent/v1/agent_events_service.proto"],
      ["grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"],
      ["grpc.health.v1.HealthCheckResponse.SERVICE_UNKNOWN", "grpc/health/v1/health.proto"],
      ["google.protobuf.DescriptorProto.ExtensionRange", "google/protobuf/descriptor.proto"],
      ["google.api.http", "google/api/annotations.proto"],
      ["grpc.reflection.v1alpha.ServerReflection", "grpc/reflection/v1alpha/reflection.proto"],
    ];
    const answers = await askV1(...cases.map(([name]) => symbol(name)));
    for (const [i, [name, file]] of cases.entries()) {
      assert.equal(fileNames(answers[i])[0], file, name);
    }
  });

  test("unknown symbols and files answer NOT_FOUND and the stream goes on", async () => {
    const answers = await askV1(
      symbol("nixfleet.agent.v1.NoSuchMessage"),
      symbol("nixfleet.agent.v1"),
      { case: "fileByFilename", value: "nixfleet/agent/v1/nope.proto" },
      { case: "listServices", value: "" },
    );
    assert.equal(errorCode(answers[0]), Code.NotFound);
    assert.equal(errorCode(answers[1]), Code.NotFound);
    assert.equal(errorCode(answers[2]), Code.NotFound);
    assert.equal(answers[3]?.case, "listServicesResponse");
  });

  test("file_by_filename returns the file and its imports", async () => {
    const [answer] = await askV1({
      case: "fileByFilename",
      value: "nixfleet/ops/v1/host_rollout.proto",
    });
    assert.equal(fileNames(answer)[0], "nixfleet/ops/v1/host_rollout.proto");
  });

  test("extensions: file_containing_extension and all_extension_numbers_of_type", async () => {
    const answers = await askV1(
      {
        case: "fileContainingExtension",
        value: { containingType: "google.protobuf.MethodOptions", extensionNumber: 72295728 },
      },
      {
        case: "fileContainingExtension",
        value: { containingType: "google.protobuf.MethodOptions", extensionNumber: 1 },
      },
      { case: "allExtensionNumbersOfType", value: "google.protobuf.MethodOptions" },
      { case: "allExtensionNumbersOfType", value: "nixfleet.agent.v1.PostEventRequest" },
      { case: "allExtensionNumbersOfType", value: "nixfleet.agent.v1.Nope" },
    );
    assert.equal(fileNames(answers[0])[0], "google/api/annotations.proto");
    assert.equal(errorCode(answers[1]), Code.NotFound);
    assert.equal(answers[2]?.case, "allExtensionNumbersResponse");
    assert.deepEqual(answers[2].value.extensionNumber, [HTTP_RULE_EXTENSION]);
    assert.equal(answers[2].value.baseTypeName, "google.protobuf.MethodOptions");
    assert.equal(answers[3]?.case, "allExtensionNumbersResponse");
    assert.deepEqual(answers[3].value.extensionNumber, []);
    assert.equal(errorCode(answers[4]), Code.NotFound);
  });

  test("a request that selects nothing ends the stream with INVALID_ARGUMENT", async () => {
    await assert.rejects(
      askV1({ case: undefined }),
      (err) => ConnectError.from(err).code === Code.InvalidArgument,
    );
  });
});

describe("grpc.reflection.v1alpha.ServerReflection", () => {
  test("gives the same answers as v1", async () => {
    const requests: MessageRequest[] = [
      { case: "listServices", value: "" },
      symbol("nixfleet.agent.v1.PostEventRequest"),
      symbol("nixfleet.agent.v1.AgentEvent"),
      symbol("nixfleet.agent.v1.NoSuchMessage"),
      { case: "fileByFilename", value: "grpc/health/v1/health.proto" },
      { case: "allExtensionNumbersOfType", value: "google.protobuf.MethodOptions" },
    ];
    const v1 = await askV1(...requests);
    const v1alpha = await askV1alpha(...requests);
    assert.equal(v1alpha.length, requests.length);
    assert.deepEqual(v1alpha, stripTypeNames(v1));
  });
});
