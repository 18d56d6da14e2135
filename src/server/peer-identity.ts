// Who is calling: the authenticated peer taken from the TLS client certificate (never from a
// header or the body), classified as an agent (by the CN rule of SPEC §2) or an operator.
import { type KeyObject, X509Certificate } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { type ServiceError, serviceError } from "./service-error.js";

/** How certificates map to roles. */
export interface IdentityConfig {
  /** The agent CN suffix, e.g. "fleet.lab.internal". */
  readonly agentCnSuffix: string;
  /** CNs treated as operators besides `operator-<name>.<suffix>`. */
  readonly operatorCns: readonly string[];
}

/** A revocation: certificates of `machineId` issued strictly before `notBeforeMs` are refused. */
export interface Revocation {
  readonly machineId: string;
  readonly notBeforeMs: number;
  readonly reason: string;
}

/** Looks revocations up by machine id; `version` changes whenever the set changes. */
export interface RevocationLookup {
  readonly version: number;
  find(machineId: string): Revocation | undefined;
}

export type PeerRole =
  | { readonly kind: "agent"; readonly machineId: string }
  | { readonly kind: "operator"; readonly name: string };

const token = Symbol("peer-identity");

/** An authenticated peer. Only this module can create one. */
export class PeerIdentity {
  #publicKey: KeyObject | undefined;

  private constructor(
    key: symbol,
    readonly commonName: string,
    readonly role: PeerRole,
    private readonly certificateDer: Buffer | undefined,
  ) {
    if (key !== token) throw new TypeError("PeerIdentity is created by authenticatePeer only");
  }

  /** The public key of the client certificate (parsed on first use: only signed events need it). */
  get publicKey(): KeyObject | undefined {
    if (this.#publicKey === undefined && this.certificateDer !== undefined) {
      this.#publicKey = new X509Certificate(this.certificateDer).publicKey;
    }
    return this.#publicKey;
  }

  /** @internal */
  static create(commonName: string, role: PeerRole, certificateDer?: Buffer): PeerIdentity {
    return new PeerIdentity(token, commonName, role, certificateDer);
  }
}

/**
 * The machine id of an agent CN: what lies between `agent-` and `.<suffix>` when the CN has
 * both (case-sensitive); otherwise the CN unchanged (legacy bare CNs).
 */
export function machineIdFromCommonName(commonName: string, suffix: string): string {
  const prefix = "agent-";
  const tail = `.${suffix}`;
  if (
    commonName.length >= prefix.length + tail.length &&
    commonName.startsWith(prefix) &&
    commonName.endsWith(tail)
  ) {
    return commonName.slice(prefix.length, commonName.length - tail.length);
  }
  return commonName;
}

/** Classifies a CN: configured operator CNs and `operator-<name>.<suffix>` are operators. */
export function classifyCommonName(commonName: string, config: IdentityConfig): PeerRole {
  if (config.operatorCns.includes(commonName)) return { kind: "operator", name: commonName };
  const tail = `.${config.agentCnSuffix}`;
  if (commonName.startsWith("operator-") && commonName.endsWith(tail)) {
    const name = commonName.slice("operator-".length, commonName.length - tail.length);
    if (name.length > 0) return { kind: "operator", name };
  }
  return { kind: "agent", machineId: machineIdFromCommonName(commonName, config.agentCnSuffix) };
}

type Authenticated = PeerIdentity | ServiceError;
const cache = new WeakMap<TLSSocket, { version: number; result: Authenticated }>();

/**
 * Authenticates the peer of a TLS socket: the chain must have verified against the fleet
 * client CA and the leaf must not be revoked. Cached per socket and revocation version.
 */
export function authenticatePeer(
  socket: TLSSocket | undefined,
  config: IdentityConfig,
  revocations: RevocationLookup,
): Authenticated {
  if (socket === undefined || typeof socket.getPeerCertificate !== "function") {
    return serviceError("unauthenticated", "a TLS client certificate is required");
  }
  const cached = cache.get(socket);
  if (cached !== undefined && cached.version === revocations.version) return cached.result;
  const result = authenticate(socket, config, revocations);
  cache.set(socket, { version: revocations.version, result });
  return result;
}

function authenticate(
  socket: TLSSocket,
  config: IdentityConfig,
  revocations: RevocationLookup,
): Authenticated {
  if (!socket.authorized) {
    return serviceError(
      "unauthenticated",
      `client certificate not accepted: ${String(socket.authorizationError ?? "none presented")}`,
    );
  }
  const cert = socket.getPeerCertificate();
  const cn = cert?.subject?.CN;
  const commonName = Array.isArray(cn) ? cn[0] : cn;
  if (typeof commonName !== "string" || commonName.length === 0) {
    return serviceError("unauthenticated", "client certificate has no subject CommonName");
  }
  const role = classifyCommonName(commonName, config);
  const id = role.kind === "agent" ? role.machineId : commonName;
  const revoked = revocations.find(id);
  if (revoked !== undefined) {
    const issued = Date.parse(cert.valid_from);
    if (!(issued >= revoked.notBeforeMs)) {
      return serviceError(
        "unauthenticated",
        `client certificate for ${id} was revoked (${revoked.reason}); re-enroll for a new one`,
      );
    }
  }
  return PeerIdentity.create(commonName, role, cert.raw);
}

/** The TLS socket under a Node request: HTTP/2 keeps it on the session, HTTP/1.1 on req.socket. */
export function tlsSocketOf(req: {
  socket: unknown;
  stream?: { session?: { socket?: unknown } };
}): TLSSocket | undefined {
  const socket = (req.stream?.session?.socket ?? req.socket) as TLSSocket | undefined;
  return typeof socket?.getPeerCertificate === "function" ? socket : undefined;
}
