// How times and durations read on the page.
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";

/** "2026-05-16 01:27:03Z", or "—" when absent. */
export function formatTime(ts: Timestamp | undefined): string {
  return ts === undefined ? "—" : formatIso(timestampDate(ts).toISOString());
}

/** An RFC 3339 string shortened to seconds; other strings unchanged. */
export function formatIso(iso: string): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(iso);
  return m === null ? iso : `${m[1]} ${m[2]}${m[3]}`;
}
