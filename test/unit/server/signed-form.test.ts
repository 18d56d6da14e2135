// The canonical signed form: absent, null and empty optionals sign alike; the candidates a
// signature is checked against, per encoding.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { RemoteEvent } from "../../../src/core/event.js";
import type { Instant } from "../../../src/core/instant.js";
import { signedForm, signedFormCandidates } from "../../../src/server/signature/signed-form.js";

const probe = {
  kind: "ProbeResult",
  probeName: "http",
  mode: "enforce",
  status: "pass",
  observedAt: "2026-05-16T01:27:20Z",
  seq: 6,
};

test("null members and an empty subResults are left out of the signed form", () => {
  const plain = signedForm(probe);
  assert.equal(signedForm({ ...probe, failureReason: null, subResults: null }), plain);
  assert.equal(signedForm({ ...probe, subResults: [] }), plain);
  assert.equal(
    plain,
    '{"kind":"ProbeResult","mode":"enforce","observedAt":"2026-05-16T01:27:20Z","probeName":"http","seq":6,"status":"pass"}',
  );
  // A sub-result's own nulls too; a non-empty list stays.
  assert.match(
    signedForm({ ...probe, subResults: [{ controlId: "a", article: null }] }),
    /"subResults":\[\{"controlId":"a"\}\]/,
  );
});

test("binding candidates: the object as received, then its signed form", () => {
  const raw = { ...probe, failureReason: null, extra: 1 };
  const event = {
    ...probe,
    observedAt: "2026-05-16T01:27:20.000000000Z",
  } as unknown as RemoteEvent;
  assert.deepEqual(signedFormCandidates(event, raw), [
    '{"extra":1,"failureReason":null,"kind":"ProbeResult","mode":"enforce","observedAt":"2026-05-16T01:27:20Z","probeName":"http","seq":6,"status":"pass"}',
    '{"extra":1,"kind":"ProbeResult","mode":"enforce","observedAt":"2026-05-16T01:27:20Z","probeName":"http","seq":6,"status":"pass"}',
  ]);
});

test("proto candidates: the signed form of the rebuilt event, then with an empty subResults", () => {
  const event = {
    ...probe,
    observedAt: "2026-05-16T01:27:20.000000000Z" as Instant,
    subResults: [],
  } as unknown as RemoteEvent;
  assert.deepEqual(signedFormCandidates(event, undefined), [
    signedForm(probe),
    '{"kind":"ProbeResult","mode":"enforce","observedAt":"2026-05-16T01:27:20Z","probeName":"http","seq":6,"status":"pass","subResults":[]}',
  ]);
});
