// The quarantined closures of a channel. The service keeps them (quarantined_closures) but no
// RPC reads them yet (issue 13 adds the view); when it lands, `loadQuarantine` calls it and
// the rollout page shows the list unchanged.
import type { Api } from "./api.js";

/** One quarantined closure. */
export interface QuarantinedClosure {
  readonly closure: string;
  /** When it was quarantined (CP time, RFC 3339), if known. */
  readonly at?: string;
}

/** The channel's quarantined closures, or undefined while the service has no RPC for them. */
export async function loadQuarantine(
  _api: Api,
  _channel: string,
): Promise<QuarantinedClosure[] | undefined> {
  return undefined;
}
