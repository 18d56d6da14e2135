// Certificate revocations by machine id (SPEC §2): looked up on every handshake's identity,
// replaced wholesale from the operator's revocation file.
import type { Instant } from "../core/instant.js";
import { inTransaction, type Queryable } from "./in-transaction.js";

/** Certificates for `machineId` whose own notBefore is strictly earlier are revoked. */
export interface Revocation {
  readonly machineId: string;
  readonly notBefore: Instant;
  readonly reason: string | null;
}

/** The revocation of a machine id (never a full CN), or undefined. */
export async function findRevocation(
  db: Queryable,
  machineId: string,
): Promise<Revocation | undefined> {
  const row = await db
    .selectFrom("cert_revocations")
    .selectAll()
    .where("machine_id", "=", machineId)
    .executeTakeFirst();
  if (row === undefined) return undefined;
  return { machineId: row.machine_id, notBefore: row.not_before as Instant, reason: row.reason };
}

// Below both dialects' bound-parameter limits at 3 columns a row.
const INSERT_CHUNK = 1000;

/**
 * Makes the table hold exactly `entries`, atomically (a reader sees the old list or the
 * new one). A machine id listed twice keeps its latest notBefore: the stricter reading.
 * Returns the number of revocations stored.
 */
export async function upsertRevocations(
  db: Queryable,
  entries: readonly Revocation[],
): Promise<number> {
  const byMachine = new Map<string, Revocation>();
  for (const entry of entries) {
    const seen = byMachine.get(entry.machineId);
    if (seen === undefined || entry.notBefore > seen.notBefore)
      byMachine.set(entry.machineId, entry);
  }
  const rows = [...byMachine.values()].map((e) => ({
    machine_id: e.machineId,
    not_before: e.notBefore,
    reason: e.reason,
  }));
  await inTransaction(db, async (trx) => {
    await trx.deleteFrom("cert_revocations").execute();
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      await trx
        .insertInto("cert_revocations")
        .values(rows.slice(i, i + INSERT_CHUNK))
        .execute();
    }
  });
  return rows.length;
}
