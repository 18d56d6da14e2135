// @grpc/grpc-js against the real server over mTLS: every status code PostEvent and the operator
// RPCs answer, with messages readable as written, and WatchRollout streaming.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { status } from "@grpc/grpc-js";
import {
  cleanup,
  makeTestPki,
  openTestRollout,
  startTestServer,
  type TestPki,
  type TestServer,
  writeRevocations,
} from "../e2e/harness.js";
import {
  agentClient,
  eventRequest,
  failure,
  type GrpcJsClient,
  type Message,
  rolloutClient,
} from "./grpc-js-client.js";

const ESCAPE = /%[0-9A-Fa-f]{2}/;

describe("grpc-js: every answer of PostEvent and RolloutService", () => {
  let pki: TestPki;
  let server: TestServer;
  const clients: GrpcJsClient[] = [];
  let h1: GrpcJsClient;
  let operator: GrpcJsClient;
  const agent = (host: string) => {
    const c = agentClient(server.service.port, pki, pki.agent(host));
    clients.push(c);
    return c;
  };
  before(async () => {
    pki = await makeTestPki();
    // web-01's certificates issued before 30 minutes ago are revoked: pki.oldWeb01 is one.
    const revocations = writeRevocations(pki, [
      {
        hostname: "web-01",
        notBefore: new Date(Date.now() - 1800_000).toISOString(),
        reason: "laptop stolen",
      },
    ]);
    server = await startTestServer(pki, ["--revocations", revocations]);
    await openTestRollout(server, "interop@01", ["h1", "h2", "web-01"]);
    h1 = agent("h1");
    operator = rolloutClient(server.service.port, pki, pki.operator);
    clients.push(operator);
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.service.shutdown();
    cleanup(pki);
  });

  test("OK: applied, then duplicate for the same seq", async () => {
    const post = h1.unary("postEvent");
    const applied = await post(eventRequest("h1", "interop@01", 1));
    assert.equal(applied["outcome"], "OUTCOME_APPLIED");
    assert.equal(applied["state"], "HOST_STATE_ACTIVATING");
    assert.equal(applied["lastEventSeq"], "1");
    const duplicate = await post(eventRequest("h1", "interop@01", 1));
    assert.equal(duplicate["outcome"], "OUTCOME_DUPLICATE");
  });

  test("PostEvents: one verdict per event, in order; another host's call is PERMISSION_DENIED", async () => {
    await openTestRollout(server, "interop@02", ["h1"]);
    const batch = h1.unary("postEvents");
    const { hostname: _h, ...first } = eventRequest("h1", "interop@02", 1);
    const { hostname: _n, ...unknown } = eventRequest("h1", "nope@ff", 1);
    const res = await batch({
      hostname: "h1",
      events: [first, first, unknown, { ...first, rolloutId: "Bad" }],
    });
    const verdicts = res["verdicts"] as Message[];
    assert.deepEqual(
      verdicts.map((v) =>
        v["verdict"] === "accepted"
          ? (v["accepted"] as Message)["outcome"]
          : (v["error"] as Message)["code"],
      ),
      ["OUTCOME_APPLIED", "OUTCOME_DUPLICATE", "not_found", "invalid_argument"],
    );
    assert.match(
      String((verdicts[3]?.["error"] as Message | undefined)?.["message"]),
      /^rolloutId: /,
    );
    const error = await failure(batch({ hostname: "h2", events: [first] }));
    assert.equal(error.code, status.PERMISSION_DENIED);
  });

  test("INVALID_ARGUMENT names the field, in a message readable as written", async () => {
    const post = agent("h2").unary("postEvent");
    const cases: [Message, string][] = [
      [
        eventRequest("h2", "Stable@xyz", 1),
        'rolloutId: must be "<channel>@<ref>" with channel [a-z0-9_-]+ and ref lowercase hex, got "Stable@xyz"',
      ],
      // Bytes outside printable ASCII and '%' itself travel percent-encoded and come back.
      [eventRequest("h2", "été@1", 1), 'got "été@1"'],
      [eventRequest("h2", "a%b@1", 1), 'got "a%b@1"'],
      [{ ...eventRequest("h2", "interop@01", 1), event: { seq: "0" } }, "event.seq"],
    ];
    for (const [request, expected] of cases) {
      const error = await failure(post(request));
      assert.equal(error.code, status.INVALID_ARGUMENT, error.details);
      assert.ok(error.details.includes(expected), `${JSON.stringify(error.details)}`);
      if (!/%/.test(expected)) assert.doesNotMatch(error.details, ESCAPE);
    }
  });

  test("RESOURCE_EXHAUSTED: a message over --max-message-bytes, refused before it is read", async () => {
    const request = eventRequest("h2", "interop@01", 1);
    const event = request["event"] as Message;
    const big = {
      ...request,
      event: { ...event, dispatchAck: { currentClosureAtDispatch: "x".repeat(1_100_000) } },
    };
    const error = await failure(agent("h2").unary("postEvent")(big));
    assert.equal(error.code, status.RESOURCE_EXHAUSTED, `${status[error.code]}: ${error.details}`);
    assert.doesNotMatch(error.details, ESCAPE);
  });

  test("UNAUTHENTICATED: a revoked certificate", async () => {
    const revoked = agentClient(server.service.port, pki, pki.oldWeb01);
    clients.push(revoked);
    const error = await failure(
      revoked.unary("postEvent")(eventRequest("web-01", "interop@01", 1)),
    );
    assert.equal(error.code, status.UNAUTHENTICATED, error.details);
    assert.doesNotMatch(error.details, ESCAPE);
  });

  test("PERMISSION_DENIED: another host's event, an operator posting, an agent operating", async () => {
    const other = await failure(h1.unary("postEvent")(eventRequest("h2", "interop@01", 1)));
    assert.equal(other.code, status.PERMISSION_DENIED, other.details);
    assert.doesNotMatch(other.details, ESCAPE);
    const asOperator = agentClient(server.service.port, pki, pki.operator);
    clients.push(asOperator);
    const posting = await failure(
      asOperator.unary("postEvent")(eventRequest("h2", "interop@01", 1)),
    );
    assert.equal(posting.code, status.PERMISSION_DENIED, posting.details);
    const asAgent = rolloutClient(server.service.port, pki, pki.agent("h1"));
    clients.push(asAgent);
    const operating = await failure(
      asAgent.unary("getHostRollout")({ rolloutId: "interop@01", hostname: "h1" }),
    );
    assert.equal(operating.code, status.PERMISSION_DENIED, operating.details);
    assert.match(
      operating.details,
      /agent-h1\.fleet\.lab\.internal is an agent; nixfleet\.ops\.v1\.RolloutService requires the operator role/,
    );
  });

  test("NOT_FOUND: no record for the pair", async () => {
    const error = await failure(h1.unary("postEvent")(eventRequest("h1", "nope@ff", 1)));
    assert.equal(error.code, status.NOT_FOUND, error.details);
    assert.match(error.details, /nope@ff/);
    assert.doesNotMatch(error.details, ESCAPE);
    const record = await failure(
      operator.unary("getHostRollout")({ rolloutId: "nope@ff", hostname: "h1" }),
    );
    assert.equal(record.code, status.NOT_FOUND, record.details);
  });

  test("FAILED_PRECONDITION: illegal for the host's state, with the values", async () => {
    await h1.unary("postEvent")(eventRequest("h1", "interop@01", 1)); // applied or duplicate
    const second = eventRequest("h1", "interop@01", 2, "dispatchAck");
    const error = await failure(h1.unary("postEvent")(second));
    assert.equal(error.code, status.FAILED_PRECONDITION, error.details);
    assert.match(error.details, /DispatchAck is illegal for a host in state Activating/);
  });

  test("operator RPCs: OpenRollout created / idempotent / ALREADY_EXISTS / INVALID_ARGUMENT, reads", async () => {
    const open = operator.unary("openRollout");
    const request = {
      rolloutId: "canary@0d1e",
      onHealthFailure: "HEALTH_FAILURE_POLICY_HALT",
      soakDuration: { seconds: "600" },
      hosts: [{ hostname: "h2", targetClosure: "def456-nixos-system-h2" }],
    };
    assert.equal((await open(request))["created"], true);
    assert.equal((await open(request))["created"], false);
    const conflict = await failure(open({ ...request, soakDuration: { seconds: "60" } }));
    assert.equal(conflict.code, status.ALREADY_EXISTS, conflict.details);
    assert.match(conflict.details, /canary@0d1e/);
    assert.doesNotMatch(conflict.details, ESCAPE);
    const bad = await failure(open({ ...request, rolloutId: "Canary@0d1e" }));
    assert.equal(bad.code, status.INVALID_ARGUMENT, bad.details);
    assert.match(bad.details, /^rolloutId: must be "<channel>@<ref>"/);

    const record = await operator.unary("getHostRollout")({
      rolloutId: "interop@01",
      hostname: "h1",
    });
    assert.equal((record["hostRollout"] as Message)["state"], "HOST_STATE_ACTIVATING");
    const events = await operator.unary("listEvents")({ rolloutId: "interop@01" });
    assert.ok((events["events"] as Message[]).length >= 1);
    const list = await operator.unary("listHostRollouts")({ rolloutId: "interop@01" });
    assert.equal((list["hostRollouts"] as Message[]).length, 3);
  });

  test("WatchRollout streams the snapshot, then live changes", async () => {
    const call = operator.stream("watchRollout", { rolloutId: "interop@01" });
    const received: Message[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      call.on("data", (m: Message) => received.push(m));
      call.on("error", (e: { code: number }) =>
        e.code === status.CANCELLED ? resolve() : reject(e),
      );
      call.on("end", resolve);
    });
    const until = async (predicate: () => boolean) => {
      for (let i = 0; i < 100 && !predicate(); i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(predicate(), JSON.stringify(received));
    };
    await until(() => received.some((m) => m["update"] === "snapshotComplete"));
    const snapshot = received.filter((m) => m["update"] === "snapshot");
    assert.equal(snapshot.length, 3);
    const complete = received.at(-1) ?? {};
    assert.deepEqual(complete["snapshotComplete"], { hostCount: 3 });

    await agent("h2").unary("postEvent")(eventRequest("h2", "interop@01", 1));
    await until(() => received.some((m) => m["update"] === "change"));
    const change = received.find((m) => m["update"] === "change")?.["change"] as Message;
    assert.equal(change["hostname"], "h2");
    assert.equal(change["from"], "HOST_STATE_PENDING");
    assert.equal(change["to"], "HOST_STATE_ACTIVATING");
    call.cancel();
    await ended;
  });
});
