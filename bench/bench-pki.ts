// The benchmark's PKI: one CA, a server certificate, an operator and one agent certificate per
// simulated host, cached under .bench/pki so a rerun issues only the hosts it has not seen.
import { X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { issueCertificateAuthority } from "../src/pki/issue-certificate-authority.js";
import { issueLeafCertificate } from "../src/pki/issue-leaf-certificate.js";
import type { IssuedCertificate } from "../src/pki/issued-certificate.js";

/** PEM material of one TLS identity. */
export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

/** Everything the servers and the driver present or trust. */
export interface BenchPki {
  readonly dir: string;
  readonly suffix: string;
  readonly caPath: string;
  readonly serverCertPath: string;
  readonly serverKeyPath: string;
  readonly ca: string;
  readonly operator: PemPair;
  /** The machine ids, in order; `agent(i)` is the identity of `hosts[i]`. */
  readonly hosts: readonly string[];
  agent(index: number): PemPair;
}

/** The agent CN suffix the bench servers are configured with. */
export const BENCH_SUFFIX = "bench.fleet.internal";

/** The machine id of simulated host `i`: fixed width, so every request body has one size. */
export function hostName(index: number): string {
  return `h${String(index).padStart(5, "0")}`;
}

// A cached file is reused while it stays valid for a day more than any run could last.
const MIN_REMAINING_MS = 24 * 3600_000;

function stillValid(certPem: string): boolean {
  try {
    return Date.parse(new X509Certificate(certPem).validTo) - Date.now() > MIN_REMAINING_MS;
  } catch {
    return false;
  }
}

function readPair(certPath: string, keyPath: string): IssuedCertificate | undefined {
  try {
    const certPem = readFileSync(certPath, "utf8");
    const keyPem = readFileSync(keyPath, "utf8");
    return stillValid(certPem) ? { certPem, keyPem } : undefined;
  } catch {
    return undefined;
  }
}

function writePair(certPath: string, keyPath: string, pair: IssuedCertificate): void {
  // Key first, certificate last: a certificate on disk implies its key is complete.
  for (const [path, data] of [
    [keyPath, pair.keyPem],
    [certPath, pair.certPem],
  ] as const) {
    writeFileSync(`${path}.tmp`, data, { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  }
}

/**
 * Returns the PKI in `dir` with at least `hostCount` agents, issuing what is missing or
 * expiring. A new CA invalidates every leaf, so the leaves are checked against it.
 */
export async function ensureBenchPki(dir: string, hostCount: number): Promise<BenchPki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caPath = join(dir, "ca.pem");
  const caKeyPath = join(dir, "ca-key.pem");
  let ca = readPair(caPath, caKeyPath);
  let freshCa = false;
  if (ca === undefined) {
    ca = await issueCertificateAuthority({ commonName: "nixfleet-cp bench CA" });
    writePair(caPath, caKeyPath, ca);
    freshCa = true;
  }
  const caCert = new X509Certificate(ca.certPem);
  const issuedBy = (pair: IssuedCertificate) =>
    new X509Certificate(pair.certPem).checkIssued(caCert);

  async function leaf(name: string, commonName: string, role: "server" | "client") {
    const certPath = join(dir, `${name}.pem`);
    const keyPath = join(dir, `${name}-key.pem`);
    let pair = freshCa ? undefined : readPair(certPath, keyPath);
    if (pair === undefined || !issuedBy(pair)) {
      pair = await issueLeafCertificate(ca as IssuedCertificate, { commonName, role });
      writePair(certPath, keyPath, pair);
    }
    return { certPath, keyPath, pair };
  }

  const server = await leaf("server", "localhost", "server");
  const operator = await leaf("operator", `operator-bench.${BENCH_SUFFIX}`, "client");
  const hosts = Array.from({ length: hostCount }, (_, i) => hostName(i));
  const agents: PemPair[] = [];
  for (const host of hosts) {
    const { pair } = await leaf(`agent-${host}`, `agent-${host}.${BENCH_SUFFIX}`, "client");
    agents.push({ cert: pair.certPem, key: pair.keyPem });
  }
  return {
    dir,
    suffix: BENCH_SUFFIX,
    caPath,
    serverCertPath: server.certPath,
    serverKeyPath: server.keyPath,
    ca: ca.certPem,
    operator: { cert: operator.pair.certPem, key: operator.pair.keyPem },
    hosts,
    agent(index) {
      const a = agents[index];
      if (a === undefined) throw new RangeError(`no agent certificate for host #${index}`);
      return a;
    },
  };
}
