// Binding a listener, with a failure that names the flag, the address and the reason in
// words (e.g. "listen 127.0.0.1:8443: address already in use") instead of Node's errno text.
import type { Server } from "node:net";
import type { ListenAddress } from "../config/service-config.js";

const REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "no such address on this machine",
  EACCES: "permission denied (ports below 1024 need privileges)",
};

/** Listens on `address`; rejects with an Error saying `<flag> <host>:<port>: <reason>`. */
export function listenOn(server: Server, address: ListenAddress, flag: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const reason = REASONS[error.code ?? ""] ?? error.message;
      const host = address.host.includes(":") ? `[${address.host}]` : address.host;
      reject(new Error(`${flag} ${host}:${address.port}: ${reason}`, { cause: error }));
    };
    server.once("error", onError);
    server.listen(address.port, address.host, () => {
      server.off("error", onError);
      resolve();
    });
  });
}
