// A baseline server process for the bench, on the same TLS material and listener options as
// nixfleet-cp: "bare" (node:http2 alone, a canned OK), "connect" (connect-node, empty handler)
// or "grpc-js" (@grpc/grpc-js, empty handler, gRPC only).
// Usage: node --import tsx bench/baseline-server.ts --kind bare|connect|grpc-js --cert F --key F --ca F
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import { type ConnectRouter, createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  AgentEventsService,
  HostState,
  Outcome,
  PostEventResponseSchema,
} from "../gen/nixfleet/agent/v1/agent_events_service_pb.js";
import { serveGrpcJs } from "./grpc-js-server.js";
import { countBatchedEvents, POST_EVENTS_RPC } from "./post-events-format.js";

/** Which baseline to serve. */
export type BaselineKind = "bare" | "connect" | "grpc-js";

/** The ready line's message, which the bench waits for. */
export const BASELINE_READY = "bench baseline listening";

// What nixfleet-cp answers for an applied event, so the driver counts it exactly as it does
// the real service's answers.
const applied = create(PostEventResponseSchema, {
  outcome: Outcome.APPLIED,
  state: HostState.ACTIVATING,
  lastEventSeq: 1n,
});

function bareHandler(): (req: Http2ServerRequest, res: Http2ServerResponse) => void {
  const binary = Buffer.from(toBinary(PostEventResponseSchema, applied));
  const json = Buffer.from(toJsonString(PostEventResponseSchema, applied));
  const grpcFrame = Buffer.alloc(5 + binary.length);
  grpcFrame.writeUInt32BE(binary.length, 1);
  binary.copy(grpcFrame, 5);
  const verdict = Buffer.concat([
    Buffer.from([0x0a, binary.length + 2, 0x0a, binary.length]),
    binary,
  ]);
  return (req, res) => {
    if (req.url === POST_EVENTS_RPC) {
      // One APPLIED verdict per event: lets the driver's PostEvents path be checked on its own.
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.once("end", () => {
        const events = countBatchedEvents(Buffer.concat(chunks));
        res.writeHead(200, { "content-type": "application/proto" });
        res.end(Buffer.concat(Array.from({ length: events }, () => verdict)));
      });
      return;
    }
    // Read the whole body, as any real handler must, then answer the protocol's OK.
    req.resume();
    req.once("end", () => {
      const type = String(req.headers["content-type"] ?? "");
      if (req.url === "/v1/agent/events") {
        res.writeHead(204);
        res.end();
      } else if (type.startsWith("application/grpc")) {
        res.writeHead(200, { "content-type": "application/grpc+proto" });
        res.addTrailers({ "grpc-status": "0" });
        res.end(grpcFrame);
      } else if (type === "application/json") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(json);
      } else {
        res.writeHead(200, { "content-type": "application/proto" });
        res.end(binary);
      }
    });
  };
}

// The same adapter options as src/server/create-fleet-server.ts, minus our interceptors and
// peer authentication: what remains is connect-node's own cost for this RPC.
function connectHandler(maxMessageBytes: number) {
  const routes = (router: ConnectRouter) => {
    router.service(AgentEventsService, {
      async postEvent() {
        return applied;
      },
    });
  };
  return connectNodeAdapter({
    routes,
    readMaxBytes: maxMessageBytes,
    writeMaxBytes: 16 * 1024 * 1024,
    jsonOptions: { ignoreUnknownFields: false },
    contextValues: () => createContextValues(),
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kind: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      ca: { type: "string" },
      listen: { type: "string", default: "127.0.0.1:0" },
    },
  });
  const kind = values.kind as BaselineKind;
  if (kind !== "bare" && kind !== "connect" && kind !== "grpc-js") {
    throw new Error("--kind must be bare, connect or grpc-js");
  }
  if (values.cert === undefined || values.key === undefined || values.ca === undefined) {
    throw new Error("--cert, --key and --ca are required");
  }
  const [host = "127.0.0.1", port = "0"] = (values.listen ?? "").split(":");
  if (kind === "grpc-js") {
    const served = await serveGrpcJs({
      certPath: values.cert,
      keyPath: values.key,
      caPath: values.ca,
      host,
      port: Number(port),
      maxMessageBytes: 1024 * 1024,
    });
    process.stdout.write(`${JSON.stringify({ msg: BASELINE_READY, kind, port: served.port })}\n`);
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      process.once(signal, () => {
        served.stop();
        process.exit(0);
      });
    }
    return;
  }
  const handler = kind === "bare" ? bareHandler() : connectHandler(1024 * 1024);
  const server = createSecureServer(
    {
      cert: readFileSync(values.cert),
      key: readFileSync(values.key),
      ca: readFileSync(values.ca),
      requestCert: true,
      rejectUnauthorized: true,
      allowHTTP1: true,
      minVersion: "TLSv1.2",
    },
    handler as (
      req: IncomingMessage | Http2ServerRequest,
      res: ServerResponse | Http2ServerResponse,
    ) => void,
  );
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => server.listen(Number(port), host, resolve));
  const address = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ msg: BASELINE_READY, kind, port: address.port })}\n`);
  const stop = () => {
    server.close(() => process.exit(0));
    // Open sessions keep close() waiting; the bench closes its own first, this is a backstop.
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  });
}
