// A ready-to-use development PKI on disk (CA, server, agents, operators) for `nixfleet-cp dev`
// and the tests: created once, atomically, then reused unchanged on every later call.
import { createPrivateKey, createPublicKey, randomBytes, X509Certificate } from "node:crypto";
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { isIP } from "node:net";
import { basename, dirname, join, resolve } from "node:path";
import { issueCertificateAuthority } from "./issue-certificate-authority.js";
import { issueLeafCertificate, type LeafRole } from "./issue-leaf-certificate.js";
import type { IssuedCertificate } from "./issued-certificate.js";
import { DEV_P12_PASSWORD, encodePkcs12 } from "./pkcs12.js";

/** Options for {@link createDevPki}. */
export interface DevPkiOptions {
  /** Agent and operator CNs end in `.<suffix>`. Default `fleet.lab.internal`. */
  readonly agentCnSuffix?: string;
  /** Machine ids to issue agent certificates for. Default `web-01`, `web-02`, `db-01`. */
  readonly hosts?: readonly string[];
  /** Operator names to issue operator certificates for. Default `admin`. */
  readonly operators?: readonly string[];
  /**
   * DNS names of the server certificate (the first is its CN); `localhost` and `127.0.0.1`
   * are always added. When neither this nor `serverIps` is given, any usable server
   * certificate already there is kept whatever its names.
   */
  readonly serverNames?: readonly string[];
  /** IP addresses (v4 or v6) of the server certificate. */
  readonly serverIps?: readonly string[];
}

/** One client identity of the dev PKI. */
export interface DevPkiIdentity {
  readonly certPath: string;
  readonly keyPath: string;
  readonly commonName: string;
}

/** An operator identity, also as a PKCS#12 file (password {@link DEV_P12_PASSWORD}) for browsers. */
export interface DevPkiOperator extends DevPkiIdentity {
  readonly p12Path: string;
}

/** Absolute paths of a dev PKI's files. */
export interface DevPki {
  readonly dir: string;
  readonly caPath: string;
  readonly caKeyPath: string;
  readonly serverCertPath: string;
  readonly serverKeyPath: string;
  /** The server certificate's CN: the first server name, or `localhost`. */
  readonly serverCommonName: string;
  /** The DNS names and IPs asked for the server certificate (empty: keep what is there). */
  readonly serverNames: readonly string[];
  readonly serverIps: readonly string[];
  /** Keyed by machine id; CN `agent-<host>.<suffix>`. */
  readonly agents: Record<string, DevPkiIdentity>;
  /** Keyed by operator name; CN `operator-<name>.<suffix>`. */
  readonly operators: Record<string, DevPkiOperator>;
}

interface PlannedLeaf {
  readonly certPath: string;
  readonly keyPath: string;
  readonly commonName: string;
  readonly role: LeafRole;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** False for a server certificate whose names were not asked for: any CN and SANs do. */
  readonly checkNames: boolean;
}

const caCommonName = "nixfleet-cp dev CA";
const defaultServerName = "localhost";
// A DNS name (or wildcard) for a SAN: letters, digits, hyphens and dots.
const dnsNamePattern =
  /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
// Names become file names and CNs: keep them to characters safe in both.
const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Returns the dev PKI in `dir`, creating what is missing:
 * - `dir` absent or empty: the whole PKI is built in a sibling temp directory (mode 0700) and
 *   renamed into place, so an interrupted run leaves no half-written PKI behind.
 * - `dir` holds a usable `ca.pem` + `ca-key.pem`: every certificate that is present, signed by
 *   that CA, unexpired, matches its key and has the expected CN is kept byte for byte; any
 *   other one (e.g. a host added to `hosts`) is re-issued, each file written via temp + rename.
 * - `dir` holds anything else: throws rather than overwrite it.
 * Files: ca.pem, ca-key.pem, server.pem, server-key.pem (CN the first of `serverNames` or
 * `localhost`; SANs DNS:localhost, IP:127.0.0.1 and the requested names), agent-<host>.pem / agent-<host>-key.pem, operator-<name>.pem /
 * operator-<name>-key.pem, operator-<name>.p12 (both, password {@link DEV_P12_PASSWORD}, rewritten
 * whenever the certificate is). Keys and .p12 files have mode 0600, certificates 0644.
 */
export async function createDevPki(dir: string, options: DevPkiOptions = {}): Promise<DevPki> {
  const pki = planDevPki(resolve(dir), options);
  return ensureDevPki(pki, true);
}

/** Options for {@link issueAgentFiles}. */
export interface IssueAgentOptions {
  /** Default `fleet.lab.internal`. */
  readonly agentCnSuffix?: string;
}

/**
 * Issues (or re-issues, with a new key) the agent certificate of `host` from the CA already
 * in `dir` (ca.pem + ca-key.pem): CN `agent-<host>.<suffix>`, EKU clientAuth, written to
 * agent-<host>.pem / agent-<host>-key.pem by temp + rename. Returns its paths and whether it
 * replaced an existing one. Throws when `dir` holds no usable CA.
 */
export async function issueAgentFiles(
  dir: string,
  host: string,
  options: IssueAgentOptions = {},
): Promise<DevPkiIdentity & { readonly replaced: boolean }> {
  const pki = planDevPki(resolve(dir), {
    hosts: [host],
    operators: [],
    ...(options.agentCnSuffix === undefined ? {} : { agentCnSuffix: options.agentCnSuffix }),
  });
  const agent = pki.agents[host] as DevPkiIdentity;
  const read = async (path: string) => {
    try {
      return await readFile(path, "utf8");
    } catch (error) {
      if (!isCode(error, "ENOENT")) throw error;
      throw new Error(
        `${path} is missing: issue-agent needs the CA certificate and key in ${pki.dir}`,
      );
    }
  };
  const ca: IssuedCertificate = {
    certPem: await read(pki.caPath),
    keyPem: await read(pki.caKeyPath),
  };
  assertUsableDevCa(pki.caPath, ca);
  const replaced = (await stat(agent.certPath).catch(() => undefined)) !== undefined;
  const issued = await issueLeafCertificate(ca, { commonName: agent.commonName, role: "client" });
  await replaceFile(agent.keyPath, issued.keyPem, 0o600);
  await replaceFile(agent.certPath, issued.certPem, 0o644);
  await syncDir(pki.dir);
  return { ...agent, replaced };
}

async function ensureDevPki(pki: DevPki, retryOnRace: boolean): Promise<DevPki> {
  const entries = await listDir(pki.dir);
  if (entries === undefined || entries.length === 0) {
    const created = await createFresh(pki);
    if (created || !retryOnRace) return pki;
    // Another process renamed its PKI into place first: adopt it instead of ours.
    return ensureDevPki(pki, false);
  }
  if (!entries.includes(basename(pki.caPath)) || !entries.includes(basename(pki.caKeyPath))) {
    throw new Error(
      `${pki.dir} is not empty and holds no dev CA (ca.pem, ca-key.pem); refusing to overwrite it`,
    );
  }
  const ca: IssuedCertificate = {
    certPem: await readFile(pki.caPath, "utf8"),
    keyPem: await readFile(pki.caKeyPath, "utf8"),
  };
  assertUsableDevCa(pki.caPath, ca);
  const caCert = new X509Certificate(ca.certPem);
  let wrote = false;
  const reissued = new Set<string>();
  for (const leaf of leavesOf(pki)) {
    if (await isUsableLeaf(leaf, caCert)) continue;
    const issued = await issueLeaf(ca, leaf);
    await replaceFile(leaf.keyPath, issued.keyPem, 0o600);
    await replaceFile(leaf.certPath, issued.certPem, 0o644);
    reissued.add(leaf.certPath);
    wrote = true;
  }
  for (const operator of Object.values(pki.operators)) {
    if (!reissued.has(operator.certPath) && (await exists(operator.p12Path))) continue;
    const p12 = await operatorP12(operator);
    await replaceFile(operator.p12Path, p12, 0o600);
    wrote = true;
  }
  if (wrote) await syncDir(pki.dir);
  return pki;
}

/** Builds the whole PKI beside `pki.dir` and renames it in; false if another process won. */
async function createFresh(pki: DevPki): Promise<boolean> {
  const parent = dirname(pki.dir);
  await mkdir(parent, { recursive: true });
  // mkdtemp creates the directory with mode 0700, which the rename carries over to `dir`.
  const tmp = await mkdtemp(join(parent, `.${basename(pki.dir)}.tmp-`));
  try {
    const ca = await issueCertificateAuthority({ commonName: caCommonName });
    await writeNewFile(join(tmp, basename(pki.caKeyPath)), ca.keyPem, 0o600);
    await writeNewFile(join(tmp, basename(pki.caPath)), ca.certPem, 0o644);
    for (const leaf of leavesOf(pki)) {
      const issued = await issueLeaf(ca, leaf);
      await writeNewFile(join(tmp, basename(leaf.keyPath)), issued.keyPem, 0o600);
      await writeNewFile(join(tmp, basename(leaf.certPath)), issued.certPem, 0o644);
    }
    for (const operator of Object.values(pki.operators)) {
      const inTmp = (path: string) => join(tmp, basename(path));
      const p12 = await operatorP12({
        ...operator,
        certPath: inTmp(operator.certPath),
        keyPath: inTmp(operator.keyPath),
      });
      await writeNewFile(inTmp(operator.p12Path), p12, 0o600);
    }
    await syncDir(tmp);
    try {
      // Linux rename(2) replaces an empty directory but fails on a non-empty one.
      await rename(tmp, pki.dir);
    } catch (error) {
      if (isCode(error, "ENOTEMPTY") || isCode(error, "EEXIST")) return false;
      throw error;
    }
    await syncDir(parent);
    return true;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

function planDevPki(dir: string, options: DevPkiOptions): DevPki {
  const suffix = options.agentCnSuffix ?? "fleet.lab.internal";
  const hosts = [...new Set(options.hosts ?? ["web-01", "web-02", "db-01"])];
  const operators = [...new Set(options.operators ?? ["admin"])];
  const serverNames = [...new Set(options.serverNames ?? [])];
  const serverIps = [...new Set(options.serverIps ?? [])];
  for (const name of serverNames) {
    if (!dnsNamePattern.test(name)) throw new RangeError(`not a DNS name: "${name}"`);
  }
  for (const ip of serverIps) {
    if (isIP(ip) === 0) throw new RangeError(`not an IP address: "${ip}"`);
  }
  if (suffix === "" || suffix.startsWith(".") || suffix.endsWith(".")) {
    throw new RangeError(`agentCnSuffix must be a non-empty domain, got "${suffix}"`);
  }
  for (const name of [...hosts, ...operators]) {
    if (!namePattern.test(name)) {
      throw new RangeError(`host and operator names must match ${namePattern}, got "${name}"`);
    }
  }
  const identity = (prefix: string, name: string): DevPkiIdentity => ({
    certPath: join(dir, `${prefix}-${name}.pem`),
    keyPath: join(dir, `${prefix}-${name}-key.pem`),
    commonName: `${prefix}-${name}.${suffix}`,
  });
  const pki: DevPki = {
    dir,
    caPath: join(dir, "ca.pem"),
    caKeyPath: join(dir, "ca-key.pem"),
    serverCertPath: join(dir, "server.pem"),
    serverKeyPath: join(dir, "server-key.pem"),
    serverCommonName: serverNames[0] ?? defaultServerName,
    serverNames,
    serverIps,
    agents: Object.fromEntries(hosts.map((host) => [host, identity("agent", host)])),
    operators: Object.fromEntries(
      operators.map((name) => [
        name,
        { ...identity("operator", name), p12Path: join(dir, `operator-${name}.p12`) },
      ]),
    ),
  };
  // `agent-x-key.pem` is both host x's key and host `x-key`'s certificate: refuse such sets.
  const paths = [
    pki.caPath,
    pki.caKeyPath,
    ...leavesOf(pki).flatMap((l) => [l.certPath, l.keyPath]),
    ...Object.values(pki.operators).map((o) => o.p12Path),
  ];
  const clash = paths.find((path, index) => paths.indexOf(path) !== index);
  if (clash !== undefined) throw new RangeError(`two identities would share the file ${clash}`);
  return pki;
}

function leavesOf(pki: DevPki): PlannedLeaf[] {
  const client = (identity: DevPkiIdentity): PlannedLeaf => ({
    ...identity,
    role: "client",
    checkNames: true,
  });
  return [
    {
      certPath: pki.serverCertPath,
      keyPath: pki.serverKeyPath,
      commonName: pki.serverCommonName,
      role: "server",
      dnsNames: pki.serverNames,
      ipAddresses: pki.serverIps,
      checkNames: pki.serverNames.length > 0 || pki.serverIps.length > 0,
    },
    ...Object.values(pki.agents).map(client),
    ...Object.values(pki.operators).map(client),
  ];
}

function issueLeaf(ca: IssuedCertificate, leaf: PlannedLeaf): Promise<IssuedCertificate> {
  return issueLeafCertificate(ca, {
    commonName: leaf.commonName,
    role: leaf.role,
    ...(leaf.dnsNames ? { dnsNames: leaf.dnsNames } : {}),
    ...(leaf.ipAddresses ? { ipAddresses: leaf.ipAddresses } : {}),
  });
}

// An expired or mismatched CA cannot be repaired without replacing every certificate, which
// would silently invalidate copies handed out earlier: that is the operator's call, not ours.
function assertUsableDevCa(caPath: string, ca: IssuedCertificate): void {
  const cert = new X509Certificate(ca.certPem);
  const reason = !cert.ca
    ? "is not a CA certificate"
    : Date.parse(cert.validTo) <= Date.now()
      ? `expired on ${cert.validTo}`
      : !keyMatches(cert, ca.keyPem)
        ? "does not match ca-key.pem"
        : undefined;
  if (reason !== undefined) {
    throw new Error(`${caPath} ${reason}; remove ${dirname(caPath)} to create a new dev PKI`);
  }
}

async function isUsableLeaf(leaf: PlannedLeaf, caCert: X509Certificate): Promise<boolean> {
  try {
    const cert = new X509Certificate(await readFile(leaf.certPath, "utf8"));
    const keyPem = await readFile(leaf.keyPath, "utf8");
    return (
      cert.checkIssued(caCert) &&
      cert.verify(caCert.publicKey) &&
      Date.parse(cert.validTo) > Date.now() &&
      (!leaf.checkNames || (cert.subject === `CN=${leaf.commonName}` && hasNames(cert, leaf))) &&
      keyMatches(cert, keyPem)
    );
  } catch {
    // Missing, unreadable or unparsable: all mean "issue it again".
    return false;
  }
}

// Every requested SAN is present (a certificate with more names is still usable).
function hasNames(cert: X509Certificate, leaf: PlannedLeaf): boolean {
  const present = new Set(
    (cert.subjectAltName ?? "").split(", ").map((entry) => {
      const ip = /^IP Address:(.+)$/.exec(entry)?.[1];
      return ip === undefined ? entry : `IP:${normalizeIp(ip)}`;
    }),
  );
  return (
    (leaf.dnsNames ?? []).every((name) => present.has(`DNS:${name}`)) &&
    (leaf.ipAddresses ?? []).every((ip) => present.has(`IP:${normalizeIp(ip)}`))
  );
}

// Node prints IPv6 SANs uncompressed; the URL parser gives one canonical form for both.
function normalizeIp(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]`).hostname : ip;
}

async function operatorP12(operator: DevPkiIdentity): Promise<Buffer> {
  const [certPem, keyPem] = await Promise.all([
    readFile(operator.certPath, "utf8"),
    readFile(operator.keyPath, "utf8"),
  ]);
  return encodePkcs12(certPem, keyPem, DEV_P12_PASSWORD, operator.commonName);
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

function keyMatches(cert: X509Certificate, keyPem: string): boolean {
  const spki = (key: ReturnType<typeof createPublicKey>) =>
    key.export({ type: "spki", format: "der" });
  return spki(cert.publicKey).equals(spki(createPublicKey(createPrivateKey(keyPem))));
}

async function listDir(dir: string): Promise<string[] | undefined> {
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error(`${dir} exists and is not a directory`);
    return await readdir(dir);
  } catch (error) {
    if (isCode(error, "ENOENT")) return undefined;
    throw error;
  }
}

/** Creates `path` (failing if it exists), flushed to disk with exactly `mode`. */
async function writeNewFile(path: string, data: string | Buffer, mode: number): Promise<void> {
  const handle = await open(path, "wx", mode);
  try {
    // The umask may have narrowed the mode given to open(); the files' modes are a contract.
    await handle.chmod(mode);
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces `path` atomically: readers see the old file or the new one, never a partial one. */
async function replaceFile(path: string, data: string | Buffer, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(6).toString("hex")}`;
  try {
    await writeNewFile(tmp, data, mode);
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Makes renames and creations in `dir` durable; best effort where directories can't be opened. */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some platforms refuse fsync on a directory; the data files themselves are synced.
  }
}

function isCode(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
