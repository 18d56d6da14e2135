// The quarantined closures of a channel, from RolloutService/ListQuarantinedClosures.
import type { Api } from "./api.js";

/** One quarantined closure. */
export interface QuarantinedClosure {
  readonly closure: string;
  /** When it was quarantined (CP time, RFC 3339), if known. */
  readonly at?: string;
}

// Bounds what one load reads (10 pages of the RPC's largest page).
const MAX_PAGES = 10;

/** The channel's quarantined closures (undefined is kept for a service without the RPC). */
export async function loadQuarantine(
  api: Api,
  channel: string,
): Promise<QuarantinedClosure[] | undefined> {
  const out: QuarantinedClosure[] = [];
  let pageToken = "";
  for (let page = 0; page < MAX_PAGES; page++) {
    const response = await api.listQuarantinedClosures({ channel, pageSize: 1000, pageToken });
    for (const q of response.quarantinedClosures) {
      const seconds = q.quarantinedAt?.seconds;
      out.push({
        closure: q.closure,
        ...(seconds === undefined
          ? {}
          : { at: new Date(Number(seconds) * 1000).toISOString().replace(".000Z", "Z") }),
      });
    }
    pageToken = response.nextPageToken;
    if (pageToken === "") break;
  }
  return out;
}
