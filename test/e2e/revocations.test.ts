// Revocations take effect when the file changes, without a restart, and a certificate issued
// after the revocation's notBefore (re-enrolled) still passes.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { test } from "node:test";
import { findRevocation } from "../../src/storage/revocations.js";
import { streamBody } from "./agent-stream.js";
import {
  cleanup,
  makeTestPki,
  openTestRollout,
  postBinding,
  startTestServer,
  writeRevocations,
} from "./harness.js";

test("a revocation file change applies without a restart and is mirrored into the database", async () => {
  const pki = await makeTestPki();
  const path = writeRevocations(pki, []);
  const server = await startTestServer(pki, ["--revocations", path]);
  try {
    await openTestRollout(server, "rev@01", ["web-01"]);
    const post = (identity: { cert: string; key: string }, seq: number) =>
      postBinding(server.url, pki.ca, identity, streamBody("web-01", "rev@01", seq));
    assert.equal((await post(pki.oldWeb01, 1)).status, 204);
    // Revoke web-01's certificates issued before 30 minutes ago: the old one, not the current.
    const notBefore = new Date(Date.now() - 1800_000).toISOString();
    writeFileSync(
      path,
      JSON.stringify([{ hostname: "web-01", notBefore, reason: "laptop stolen" }]),
    );
    let status = 0;
    for (let i = 0; i < 50 && status !== 401; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await post(pki.oldWeb01, 2)).status;
    }
    assert.equal(status, 401);
    assert.equal((await post(pki.agent("web-01"), 2)).status, 204);
    const mirrored = await findRevocation(server.service.database.db, "web-01");
    assert.equal(mirrored?.reason, "laptop stolen");
    // A file that no longer parses keeps the last good set.
    writeFileSync(path, "{not json");
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await post(pki.oldWeb01, 3)).status, 401);
  } finally {
    await server.service.shutdown();
    cleanup(pki);
  }
});
