// Re-verifies one signed event-log row (SPEC §9): the kept signature over the kept signed
// form with the kept key, and the logged event equal to the event that form describes, so
// tampering with any of the four (payload, form, signature, key alone) is found.
import { createPublicKey, type KeyObject } from "node:crypto";
import type { SignedEventRow } from "../../storage/list-signed-events.js";
import { decodePostEventJson } from "../convert/decode-post-event.js";
import { canonicalJson } from "./canonical-json.js";
import { verifySignedText } from "./verify-event-signature.js";

/** Why a signed row fails audit, or undefined when it verifies. */
export function auditSignedEvent(row: SignedEventRow): string | undefined {
  if (row.signedForm === null || row.signerKey === null) {
    return "no signed form or signer key was kept with this event (logged before they were)";
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(row.signerKey), format: "der", type: "spki" });
  } catch {
    return "the kept signer key is not a public key";
  }
  if (!verifySignedText(key, row.signedForm, row.signature)) {
    return "the signature does not verify over the kept signed form with the kept key";
  }
  let signedEvent: unknown;
  try {
    signedEvent = JSON.parse(row.signedForm);
  } catch {
    return "the kept signed form is not JSON";
  }
  const decoded = decodePostEventJson({
    hostname: row.hostname,
    rolloutId: row.rolloutId,
    event: signedEvent,
  });
  if (!decoded.ok) return `the kept signed form is not an event: ${decoded.error.message}`;
  const { event } = decoded.value;
  if (event.kind !== row.kind || event.seq !== row.seq) {
    return `the row says ${row.kind} seq ${row.seq}, the signed event ${event.kind} seq ${event.seq}`;
  }
  let logged: unknown;
  try {
    logged = JSON.parse(row.payload);
  } catch {
    return "the logged event is not JSON";
  }
  if (canonicalJson(logged) !== canonicalJson(event)) {
    return "the logged event differs from the event that was signed";
  }
  return undefined;
}
