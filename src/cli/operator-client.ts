// The rollout commands' connection to the control plane: flags and environment to an mTLS
// Connect client, and Connect errors to messages an operator can act on.
import { join, resolve } from "node:path";
import { type Client, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { HostService } from "../../gen/nixfleet/ops/v1/host_service_pb.js";
import { RolloutService } from "../../gen/nixfleet/ops/v1/rollout_service_pb.js";
import type { ParsedArgs } from "./args.js";
import { CommandError } from "./command-error.js";
import { readCertificatePem, readKeyPair } from "./pem-files.js";
import { diagnoseTls, type TlsAttempt } from "./tls-diagnosis.js";
import { UsageError } from "./usage.js";

export { CommandError };

/** Where and as whom a rollout command connects. */
export interface OperatorTarget {
  readonly server: string;
  readonly caPath: string;
  readonly certPath: string;
  readonly keyPath: string;
  readonly json: boolean;
}

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

const MISSING = `pass it, or run 'nixfleet-cp pki init' (or 'npm start') for a development PKI`;

/** The PEM material of `target`, checked locally (see pem-files.ts). */
function tlsMaterial(target: OperatorTarget): { ca: string; cert: string; key: string } {
  const ca = readCertificatePem({ flag: "ca", path: target.caPath, hintWhenMissing: MISSING });
  const pair = readKeyPair(
    { flag: "cert", path: target.certPath, hintWhenMissing: MISSING },
    { flag: "key", path: target.keyPath, hintWhenMissing: MISSING },
  );
  return { ca: ca.pem, ...pair };
}

const attempts = new WeakMap<OperatorTarget, TlsAttempt>();

/** A RolloutService client over HTTP/2 presenting the operator certificate. */
export function rolloutClient(target: OperatorTarget): Client<typeof RolloutService> {
  return createClient(RolloutService, operatorTransport(target));
}

/** A HostService client over HTTP/2 presenting the operator certificate. */
export function hostClient(target: OperatorTarget): Client<typeof HostService> {
  return createClient(HostService, operatorTransport(target));
}

function operatorTransport(target: OperatorTarget): Transport {
  const material = tlsMaterial(target);
  attempts.set(target, { ...target, ...material });
  return createConnectTransport({
    baseUrl: target.server,
    httpVersion: "2",
    nodeOptions: material,
  });
}

/**
 * Turns any error from an RPC into a CommandError whose message says what to do. Errors that
 * are no answer of the server (a closed stream, a TLS verification failure) are explained by
 * one more TLS handshake (tls-diagnosis.ts).
 */
export async function describeRpcError(
  error: unknown,
  target: OperatorTarget,
): Promise<CommandError> {
  if (error instanceof CommandError) return error;
  const e = ConnectError.from(error);
  const detail = e.rawMessage;
  const attempt = attempts.get(target);
  if (
    attempt !== undefined &&
    // A refused client certificate surfaces as whatever the transport made of the closed
    // connection: canceled, aborted (ECONNRESET), internal or unknown.
    (e.code === Code.Canceled ||
      e.code === Code.Aborted ||
      e.code === Code.Internal ||
      e.code === Code.Unknown)
  ) {
    const diagnosis = await diagnoseTls(attempt);
    if (diagnosis !== undefined) return new CommandError(diagnosis);
  }
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
    throw await describeRpcError(error, target);
  }
}
