// Points `buf curl` (Go, no local schema) at a real TLS HTTP/2 server over Connect, gRPC and
// gRPC-Web: the way operators use reflection, and the strictest descriptor consumer we have.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health_pb.js";
import { AgentEventsService } from "../../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { RolloutService } from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import { createHealthState } from "../../src/server/health/health-state.js";
import { registerHealth } from "../../src/server/health/register-health.js";
import { registerReflection } from "../../src/server/reflection/register-reflection.js";

const execFileAsync = promisify(execFile);
const BUF = join(import.meta.dirname, "../../node_modules/.bin/buf");
const PROTOCOLS = ["connect", "grpc", "grpcweb"] as const;

const SERVICES = [
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
  "nixfleet.agent.v1.AgentEventsService",
  "nixfleet.ops.v1.RolloutService",
];
const METHODS = [
  "grpc.health.v1.Health/Check",
  "grpc.health.v1.Health/List",
  "grpc.health.v1.Health/Watch",
  "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
  "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
  "nixfleet.agent.v1.AgentEventsService/Heartbeat",
  "nixfleet.agent.v1.AgentEventsService/PostEvent",
  "nixfleet.agent.v1.AgentEventsService/PostEvents",
  "nixfleet.ops.v1.RolloutService/GetHostRollout",
  "nixfleet.ops.v1.RolloutService/GetRollout",
  "nixfleet.ops.v1.RolloutService/ListEvents",
  "nixfleet.ops.v1.RolloutService/ListHostRollouts",
  "nixfleet.ops.v1.RolloutService/ListProbeFailures",
  "nixfleet.ops.v1.RolloutService/ListQuarantinedClosures",
  "nixfleet.ops.v1.RolloutService/ListRefusedEvents",
  "nixfleet.ops.v1.RolloutService/ListRollouts",
  "nixfleet.ops.v1.RolloutService/OpenRollout",
  "nixfleet.ops.v1.RolloutService/WatchRollout",
];

let dir: string;
let server: http2.Http2SecureServer;
const sessions = new Set<http2.ServerHttp2Session>();
let baseUrl: string;
const health = createHealthState();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "nixfleet-reflection-"));
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  // buf curl is Go, which checks the subjectAltName, not the CN; -k skips the chain only.
  await execFileAsync("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
    ...["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
    ...["-days", "1", "-keyout", key, "-out", cert],
  ]);
  const routes = (router: ConnectRouter): void => {
    router.service(AgentEventsService, {});
    router.service(RolloutService, {});
    registerHealth(router, health);
    registerReflection(router, [AgentEventsService, RolloutService, Health]);
  };
  server = http2.createSecureServer(
    { key: await readFile(key), cert: await readFile(cert), allowHTTP1: true },
    connectNodeAdapter({ routes }),
  );
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  for (const session of sessions) session.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

interface CurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs buf curl and returns its exit code and output instead of throwing on failure. */
async function bufCurl(...args: string[]): Promise<CurlResult> {
  try {
    const { stdout, stderr } = await execFileAsync(BUF, ["curl", "--insecure", ...args], {
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code?: unknown; stdout?: string; stderr?: string };
    // A timeout kills the child and leaves code null: report it as a failure, not a hang.
    return {
      code: typeof failed.code === "number" ? failed.code : -1,
      stdout: failed.stdout ?? "",
      stderr: failed.stderr ?? String(err),
    };
  }
}

const lines = (text: string): string[] => text.split("\n").filter((l) => l !== "");

for (const protocol of PROTOCOLS) {
  describe(`buf curl --protocol ${protocol}`, () => {
    test("--list-services lists every service", async () => {
      const result = await bufCurl("--protocol", protocol, "--list-services", baseUrl);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(lines(result.stdout).sort(), SERVICES);
    });

    test("--list-methods lists every method", async () => {
      const result = await bufCurl("--protocol", protocol, "--list-methods", baseUrl);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(lines(result.stdout).sort(), METHODS);
    });

    test("Health/Check resolves its schema by reflection and answers SERVING", async () => {
      const result = await bufCurl(
        ...["--protocol", protocol, "-d", "{}"],
        `${baseUrl}/grpc.health.v1.Health/Check`,
      );
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), { status: "SERVING" });
    });

    test("calls into our services resolve through reflection (stubs answer unimplemented)", async () => {
      // Request schemas that import google/api/annotations (and so descriptor.proto) and the
      // well-known types must load in Go; the stub then fails with code 12, exit 12 << 3.
      // Each body names a real field, so a wrong schema would fail in JSON decoding instead.
      for (const [method, body] of [
        ["nixfleet.agent.v1.AgentEventsService/PostEvent", '{"hostname": "web-1"}'],
        ["nixfleet.ops.v1.RolloutService/OpenRollout", '{"rolloutId": "r-1"}'],
      ] as const) {
        const result = await bufCurl("--protocol", protocol, "-d", body, `${baseUrl}/${method}`);
        assert.equal(result.code, 12 << 3, `${method}: ${result.stderr}`);
        assert.match(result.stderr, /unimplemented/, method);
      }
    });
  });
}

describe("buf curl reflection details", () => {
  test("--reflect-protocol grpc-v1alpha works as well", async () => {
    const listed = await bufCurl("--reflect-protocol", "grpc-v1alpha", "--list-services", baseUrl);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(lines(listed.stdout).sort(), SERVICES);
    const checked = await bufCurl(
      ...["--reflect-protocol", "grpc-v1alpha", "--protocol", "grpc", "-d", "{}"],
      `${baseUrl}/grpc.health.v1.Health/Check`,
    );
    assert.equal(checked.code, 0, checked.stderr);
    assert.deepEqual(JSON.parse(checked.stdout), { status: "SERVING" });
  });

  test("Check follows the health state and unknown services are not_found", async () => {
    health.set("", ServingStatus.NOT_SERVING);
    try {
      const down = await bufCurl("-d", "{}", `${baseUrl}/grpc.health.v1.Health/Check`);
      assert.equal(down.code, 0, down.stderr);
      assert.deepEqual(JSON.parse(down.stdout), { status: "NOT_SERVING" });
    } finally {
      health.set("", ServingStatus.SERVING);
    }
    const unknown = await bufCurl(
      ...["-d", '{"service": "nixfleet.nope.v1.Nope"}'],
      `${baseUrl}/grpc.health.v1.Health/Check`,
    );
    assert.equal(unknown.code, 5 << 3, unknown.stderr);
    assert.match(unknown.stderr, /not_found/);
  });
});
