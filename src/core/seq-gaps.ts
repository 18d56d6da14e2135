// Seq gaps (SPEC §8): an event whose seq skips past last+1 is applied, and the seqs it skipped
// are counted on the record; a skipped seq re-posted later fills its gap.
import type { HostRolloutRecord } from "./domain.js";

/** At most this many missing seqs are listed on a record (the count has no bound). */
export const MAX_LISTED_MISSING_SEQS = 32;

/** The gap fields of a record. */
export type SeqGapFields = Pick<HostRolloutRecord, "missingSeqCount" | "missingSeqs">;

/** How many seqs an event with `seq` skips on `record` (0 when contiguous or not ahead). */
export function seqGap(record: HostRolloutRecord, seq: number): number {
  return Math.max(0, seq - record.lastEventSeq - 1);
}

/**
 * The gap fields after an event with `seq` (above the last seq) is applied: the seqs between
 * are added to the count, and listed while the list has room (the lowest stay listed).
 */
export function skipSeqs(record: HostRolloutRecord, seq: number): SeqGapFields {
  const gap = seqGap(record, seq);
  if (gap === 0)
    return { missingSeqCount: record.missingSeqCount, missingSeqs: record.missingSeqs };
  const listed = [...record.missingSeqs];
  for (let s = record.lastEventSeq + 1; s < seq && listed.length < MAX_LISTED_MISSING_SEQS; s++) {
    listed.push(s);
  }
  return { missingSeqCount: record.missingSeqCount + gap, missingSeqs: listed };
}

/** True when `seq` is a listed missing seq of `record`: its late copy fills the gap. */
export function fillsGap(record: HostRolloutRecord, seq: number): boolean {
  return record.missingSeqs.includes(seq);
}

/**
 * The record once the late event with missing seq `seq` is logged: the seq leaves the list
 * and the count. The state is untouched; an event cannot be applied behind later ones.
 */
export function fillGap(record: HostRolloutRecord, seq: number): HostRolloutRecord {
  if (!fillsGap(record, seq)) return record;
  return {
    ...record,
    missingSeqCount: record.missingSeqCount - 1,
    missingSeqs: record.missingSeqs.filter((s) => s !== seq),
  };
}
