// Reads the signed rows of the event log with what their signatures cover, for audit.
import type { Queryable } from "./in-transaction.js";
import { toNumber } from "./to-number.js";

/** A signed event-log row as stored, nothing parsed. */
export interface SignedEventRow {
  readonly id: number;
  readonly hostname: string;
  readonly rolloutId: string;
  readonly seq: number;
  readonly kind: string;
  /** The logged event (binding-shape JSON text). */
  readonly payload: string;
  readonly signature: Uint8Array;
  /** The exact text the signature was verified over; null on rows logged before it was kept. */
  readonly signedForm: string | null;
  /** The signer's public key (SPKI DER); null as above. */
  readonly signerKey: Uint8Array | null;
}

/** Up to `limit` signed rows of a rollout and/or host with an id above `afterId`. */
export async function listSignedEvents(
  db: Queryable,
  filter: { readonly rolloutId?: string; readonly hostname?: string },
  page: { readonly afterId: number; readonly limit: number },
): Promise<SignedEventRow[]> {
  let q = db
    .selectFrom("event_log")
    .select([
      "id",
      "hostname",
      "rollout_id",
      "seq",
      "kind",
      "payload",
      "signature",
      "signed_form",
      "signer_key",
    ])
    .where("signature", "is not", null)
    .where("id", ">", page.afterId);
  if (filter.rolloutId !== undefined) q = q.where("rollout_id", "=", filter.rolloutId);
  if (filter.hostname !== undefined) q = q.where("hostname", "=", filter.hostname);
  const rows = await q.orderBy("id").limit(page.limit).execute();
  return rows.map((row) => ({
    id: toNumber(row.id),
    hostname: row.hostname,
    rolloutId: row.rollout_id,
    seq: toNumber(row.seq),
    kind: row.kind,
    payload: row.payload,
    signature: new Uint8Array(row.signature as Uint8Array),
    signedForm: row.signed_form,
    signerKey: row.signer_key === null ? null : new Uint8Array(row.signer_key),
  }));
}
