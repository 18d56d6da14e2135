// `nixfleet-cp pki init`: a PKI (CA, server, agent and operator certificates) in one
// directory, for development, tests and small fleets that keep the CA key on the CP host.
import { readdir, readFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { commonNameOf } from "../pki/common-name-of.js";
import { createDevPki, type DevPki } from "../pki/create-dev-pki.js";
import { DEV_P12_PASSWORD } from "../pki/pkcs12.js";
import { parseCommandArgs } from "./args.js";
import { PKI_INIT_FLAGS } from "./flags.js";
import { UsageError } from "./usage.js";

type FileStatus = "created" | "replaced" | "kept";

interface PkiFile {
  readonly path: string;
  readonly what: string;
  readonly commonName?: string;
}

/** `pki init [flags]`: prints each file and whether it was created, replaced or kept. */
export async function pkiInitCommand(argv: readonly string[]): Promise<void> {
  const args = parseCommandArgs("pki init", argv, PKI_INIT_FLAGS);
  const stateDir = resolve(args.string("state-dir") ?? ".state");
  const dir = resolve(args.string("dir") ?? join(stateDir, "pki"));
  const hosts = args.list("host");
  const operators = args.list("operator");
  const options = {
    agentCnSuffix: args.string("agent-cn-suffix") ?? "fleet.lab.internal",
    ...(hosts.length > 0 ? { hosts } : {}),
    ...(operators.length > 0 ? { operators } : {}),
    serverNames: args.list("server-name"),
    serverIps: args.list("server-ip"),
  };
  let pki: DevPki;
  // createDevPki keeps usable files byte for byte, so comparing contents tells what it did.
  const before = await snapshot(dir);
  try {
    pki = await createDevPki(dir, options);
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(error.message, "pki init");
    throw error;
  }
  const files = await Promise.all(
    filesOf(pki).map(async (file) => {
      const old = before.get(file.path);
      const now = await readOptional(file.path);
      const status: FileStatus = old === undefined ? "created" : old === now ? "kept" : "replaced";
      // A kept server certificate may carry names from an earlier run: show what is on disk.
      const commonName =
        file.commonName !== undefined && now !== undefined ? commonNameOf(now) : file.commonName;
      return { ...file, ...(commonName === undefined ? {} : { commonName }), status };
    }),
  );
  if (args.flag("json")) {
    process.stdout.write(`${JSON.stringify({ ...pki, files }, null, 2)}\n`);
    return;
  }
  const made = files.filter((f) => f.status !== "kept").length;
  const lines = [`dev PKI in ${pki.dir}: ${made} written, ${files.length - made} kept`];
  const width = Math.max(...files.map((f) => basename(f.path).length));
  for (const f of files) {
    const cn = f.commonName === undefined ? "" : `  CN=${f.commonName}`;
    lines.push(`  ${f.status.padEnd(8)} ${basename(f.path).padEnd(width)}  ${f.what}${cn}`);
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

// Every file already in `dir`, by path; absent or unreadable entries are simply missing.
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const content = await readOptional(join(dir, name));
    if (content !== undefined) out.set(join(dir, name), content);
  }
  return out;
}

function filesOf(pki: DevPki): PkiFile[] {
  const identity = (
    what: string,
    id: { certPath: string; keyPath: string; commonName: string },
  ) => [
    { path: id.certPath, what: `${what} certificate`, commonName: id.commonName },
    { path: id.keyPath, what: `${what} key` },
  ];
  return [
    { path: pki.caPath, what: "CA certificate" },
    { path: pki.caKeyPath, what: "CA key" },
    { path: pki.serverCertPath, what: "server certificate", commonName: pki.serverCommonName },
    { path: pki.serverKeyPath, what: "server key" },
    ...Object.values(pki.agents).flatMap((a) => identity("agent", a)),
    ...Object.values(pki.operators).flatMap((o) => [
      ...identity("operator", o),
      {
        path: o.p12Path,
        what: `operator certificate + key for browsers (PKCS#12, password "${DEV_P12_PASSWORD}")`,
      },
    ]),
  ];
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "latin1");
  } catch {
    return undefined;
  }
}
