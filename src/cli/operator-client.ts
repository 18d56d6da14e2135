// The rollout commands' connection to the control plane: flags and environment to an mTLS
// Connect client, and Connect errors to messages an operator can act on.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { RolloutService } from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import type { ParsedArgs } from "./args.js";
import { UsageError } from "./usage.js";

/** Where and as whom a rollout command connects. */
export interface OperatorTarget {
  readonly server: string;
  readonly caPath: string;
  readonly certPath: string;
  readonly keyPath: string;
  readonly json: boolean;
}

/** A failure the CLI reports on stderr with exit code 1. */
export class CommandError extends Error {}

/** Resolves the common flags of the rollout commands (flags, then environment, then defaults). */
export function operatorTarget(command: string, args: ParsedArgs): OperatorTarget {
  const pki = join(resolve(args.string("state-dir") ?? ".state"), "pki");
  const server = (args.string("server") ?? "https://localhost:8443").replace(/\/+$/, "");
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new UsageError(`--server: not a URL: "${server}"`, command);
  }
  // The service only speaks mTLS; a plain http:// URL would fail with a confusing error later.
  if (url.protocol !== "https:") {
    throw new UsageError(`--server: must be an https:// URL, got "${server}"`, command);
  }
  return {
    server,
    caPath: resolve(args.string("ca") ?? join(pki, "ca.pem")),
    certPath: resolve(args.string("cert") ?? join(pki, "operator-admin.pem")),
    keyPath: resolve(args.string("key") ?? join(pki, "operator-admin-key.pem")),
    json: args.flag("json"),
  };
}

function readPem(path: string, flag: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new CommandError(
      `cannot read --${flag} ${path} (${reason}); pass --${flag} or run 'nixfleet-cp pki init'`,
    );
  }
}

/** A RolloutService client over HTTP/2 presenting the operator certificate. */
export function rolloutClient(target: OperatorTarget): Client<typeof RolloutService> {
  const transport = createConnectTransport({
    baseUrl: target.server,
    httpVersion: "2",
    nodeOptions: {
      ca: readPem(target.caPath, "ca"),
      cert: readPem(target.certPath, "cert"),
      key: readPem(target.keyPath, "key"),
    },
  });
  return createClient(RolloutService, transport);
}

/** Turns any error from an RPC into a CommandError whose message says what to do. */
export function describeRpcError(error: unknown, target: OperatorTarget): CommandError {
  if (error instanceof CommandError) return error;
  const e = ConnectError.from(error);
  const detail = e.rawMessage;
  switch (e.code) {
    case Code.Unavailable:
      return new CommandError(`cannot reach ${target.server}: ${detail}`);
    case Code.PermissionDenied:
      return new CommandError(
        `the certificate ${target.certPath} is not an operator certificate: ${detail}`,
      );
    case Code.Unauthenticated:
      return new CommandError(`${target.server} did not accept ${target.certPath}: ${detail}`);
    case Code.InvalidArgument:
      return new CommandError(`invalid request: ${detail}`);
    case Code.DeadlineExceeded:
      return new CommandError(`${target.server} did not answer in time: ${detail}`);
    case Code.ResourceExhausted:
      return new CommandError(`${target.server} is overloaded, try again: ${detail}`);
    case Code.NotFound:
    case Code.AlreadyExists:
    case Code.FailedPrecondition:
      return new CommandError(detail);
    default:
      return new CommandError(`${target.server}: ${Code[e.code]}: ${detail}`);
  }
}

/** Runs one RPC, mapping its failure with describeRpcError. */
export async function rpc<T>(target: OperatorTarget, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw describeRpcError(error, target);
  }
}
