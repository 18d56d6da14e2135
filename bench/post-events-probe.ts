// Asks a server whether it serves AgentEventsService/PostEvents before a run depends on it:
// one empty call, so a server from before the RPC gives a clear skip, not a table of errors.
import type { ClientHttp2Session } from "node:http2";
import { encodePostEvents } from "./post-events-format.js";
import type { SessionPool } from "./session-pool.js";

/** Undefined when PostEvents is served; otherwise why the PostEvents rows are skipped. */
export function probePostEvents(pool: SessionPool, hostname: string): Promise<string | undefined> {
  const session = pool.sessions[0] as ClientHttp2Session | undefined;
  if (session === undefined) return Promise.resolve("not measured: no session");
  const request = encodePostEvents(hostname, []);
  return new Promise((resolve) => {
    let status = 0;
    const chunks: Buffer[] = [];
    const stream = session.request(request.headers);
    stream.on("response", (headers) => {
      status = Number(headers[":status"]);
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", (error: Error) => resolve(`not measured: ${error.message}`));
    stream.on("close", () => {
      const body = Buffer.concat(chunks).toString("utf8", 0, 300);
      // Any verdict on the empty batch (even invalid_argument) means the RPC exists.
      if (status === 404 || body.includes('"unimplemented"')) {
        resolve(
          "skipped: the server answers AgentEventsService/PostEvents with unimplemented (the RPC has not landed on this build)",
        );
      } else if (status === 0) resolve("not measured: no answer to the PostEvents probe");
      else resolve(undefined);
    });
    stream.end(request.body);
  });
}
