// The never-reading attacker of `npm run faults`, in a process of its own so that its work
// never delays the legitimate client being measured: N connections with a zero receive window,
// each asking gRPC reflection for a descriptor set on M streams. Prints "started" once every
// connection is in place; on SIGTERM prints what became of the streams as JSON and exits.
import { readFileSync } from "node:fs";
import { type ClientHttp2Session, connect, constants } from "node:http2";

interface Plan {
  readonly url: string;
  readonly ca: string;
  readonly identities: readonly { cert: string; key: string }[];
  readonly connections: number;
  readonly streams: number;
}

const plan = JSON.parse(readFileSync(process.argv[2] as string, "utf8")) as Plan;
const symbol = Buffer.from("nixfleet.ops.v1.RolloutService");
const message = Buffer.concat([Buffer.from([0x22, symbol.length]), symbol]);
const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]);
const tally = { answered: 0, refused: 0, reset: 0, sessionsClosed: 0 };
const sessions: ClientHttp2Session[] = [];
const t0 = Date.now();
let settled = 0;
const settle = () => {
  if (++settled === plan.connections) console.log(`started ${Date.now() - t0}`);
};

for (let c = 0; c < plan.connections; c++) {
  const id = plan.identities[c % plan.identities.length] as { cert: string; key: string };
  const s = connect(plan.url, {
    ca: plan.ca,
    cert: id.cert,
    key: id.key,
    settings: { initialWindowSize: 0 },
    // Send every request at once, ignoring the server's SETTINGS_MAX_CONCURRENT_STREAMS, as a
    // hostile client would.
    peerMaxConcurrentStreams: plan.streams,
  });
  s.on("error", () => {});
  s.once("close", () => tally.sessionsClosed++);
  // Every connection is in place (or refused) before the legitimate client is measured.
  let once = false;
  const done = () => {
    if (!once) settle();
    once = true;
  };
  s.once("connect", done);
  s.once("close", done);
  for (let i = 0; i < plan.streams; i++) {
    try {
      const st = s.request({
        ":method": "POST",
        ":path": "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "content-type": "application/grpc",
        te: "trailers",
      });
      st.on("response", () => tally.answered++);
      st.on("error", () => {});
      st.on("close", () => {
        if (st.rstCode === constants.NGHTTP2_REFUSED_STREAM) tally.refused++;
        else if (st.rstCode !== constants.NGHTTP2_NO_ERROR) tally.reset++;
      });
      st.end(framed);
    } catch {
      break;
    }
  }
  sessions.push(s);
}
process.on("SIGTERM", () => {
  console.log(JSON.stringify(tally));
  for (const s of sessions) s.destroy();
  process.exit(0);
});
