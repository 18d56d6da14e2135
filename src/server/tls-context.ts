// The mTLS listener's certificate, key and client CA, re-read on demand (SIGHUP) and when the
// files change, so certificates rotate without a restart; a broken set keeps the last good one.
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { type FSWatcher, readFileSync, watch } from "node:fs";
import { basename, dirname } from "node:path";
import { createSecureContext } from "node:tls";

/** Where the listener's TLS material lives. */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** One consistent, validated set of TLS material. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
  /** The serving certificate's notAfter, ms since the epoch. */
  readonly notAfterMs: number;
}

/**
 * Reads and checks the three files: each parses, the key belongs to the certificate, the CA
 * file holds at least one certificate and OpenSSL accepts the set. Throws an Error naming the
 * file and the problem.
 */
export function loadTlsMaterial(files: TlsFiles): TlsMaterial {
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new Error(`${what} ${path}: ${(error as Error).message}`);
    }
  };
  const cert = read("server certificate", files.cert);
  const key = read("server key", files.key);
  const ca = read("client CA", files.ca);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (error) {
    throw new Error(`server certificate ${files.cert}: ${(error as Error).message}`);
  }
  let publicKey: Buffer;
  try {
    publicKey = createPublicKey(createPrivateKey(key)).export({ type: "spki", format: "der" });
  } catch (error) {
    throw new Error(`server key ${files.key}: ${(error as Error).message}`);
  }
  if (!leaf.publicKey.export({ type: "spki", format: "der" }).equals(publicKey)) {
    throw new Error(`server key ${files.key} does not match the certificate ${files.cert}`);
  }
  const caBlocks = ca
    .toString("utf8")
    .match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g);
  if (caBlocks === null) throw new Error(`client CA ${files.ca}: no PEM certificate in it`);
  for (const block of caBlocks) {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new Error(`client CA ${files.ca}: ${(error as Error).message}`);
    }
  }
  try {
    createSecureContext({ cert, key, ca });
  } catch (error) {
    throw new Error(`TLS material rejected by OpenSSL: ${(error as Error).message}`);
  }
  return { cert, key, ca, notAfterMs: Date.parse(leaf.validTo) };
}

/** The outcome of one reload attempt. */
export type TlsReloadResult =
  | { readonly result: "success"; readonly material: TlsMaterial; readonly trigger: string }
  | { readonly result: "unchanged"; readonly trigger: string }
  | { readonly result: "failure"; readonly error: Error; readonly trigger: string };

/** Reloads TLS material on demand and on file changes. */
export interface TlsReloader {
  /** The material being served. */
  readonly current: TlsMaterial;
  /** Re-reads the files now; applies them when valid and different. */
  reload(trigger: string): TlsReloadResult;
  /** Stops watching. */
  close(): void;
}

/** Options for {@link createTlsReloader}. */
export interface TlsReloaderOptions {
  readonly files: TlsFiles;
  /** The material already served (from {@link loadTlsMaterial}). */
  readonly initial: TlsMaterial;
  /** Installs new material for new handshakes (e.g. `server.setSecureContext`). */
  readonly apply: (material: TlsMaterial) => void;
  readonly onReload: (result: TlsReloadResult) => void;
  /** Quiet time after the last file event before reading; writers touch several files. */
  readonly debounceMs?: number;
}

/**
 * Watches the directories of the three files (so a replacement by rename, as atomic writers
 * and Kubernetes secret volumes do, is seen as well as an in-place write) and reloads once
 * the writes settle; {@link TlsReloader.reload} serves SIGHUP.
 */
export function createTlsReloader(options: TlsReloaderOptions): TlsReloader {
  const { files, apply, onReload } = options;
  let current = options.initial;
  const reload = (trigger: string): TlsReloadResult => {
    let result: TlsReloadResult;
    try {
      const material = loadTlsMaterial(files);
      if (
        material.cert.equals(current.cert) &&
        material.key.equals(current.key) &&
        material.ca.equals(current.ca)
      ) {
        result = { result: "unchanged", trigger };
      } else {
        apply(material);
        current = material;
        result = { result: "success", material, trigger };
      }
    } catch (error) {
      result = { result: "failure", error: error as Error, trigger };
    }
    onReload(result);
    return result;
  };

  const names = new Set([files.cert, files.key, files.ca].map((p) => basename(p)));
  const dirs = new Set([files.cert, files.key, files.ca].map((p) => dirname(p)));
  let timer: NodeJS.Timeout | undefined;
  const changed = (filename: string | Buffer | null) => {
    const name = filename === null ? null : filename.toString();
    // "..data" is the symlink Kubernetes swaps; other files in the directory do not matter.
    if (name !== null && !names.has(name) && !name.startsWith("..")) return;
    clearTimeout(timer);
    timer = setTimeout(() => reload("file change"), options.debounceMs ?? 250);
    timer.unref();
  };
  const watchers: FSWatcher[] = [];
  for (const dir of dirs) {
    try {
      const watcher = watch(dir, { persistent: false }, (_event, filename) => changed(filename));
      // A removed directory ends its watch; SIGHUP still reloads.
      watcher.on("error", () => watcher.close());
      watchers.push(watcher);
    } catch {
      // A directory that cannot be watched leaves SIGHUP as the way to reload.
    }
  }
  return {
    get current() {
      return current;
    },
    reload,
    close() {
      clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}
