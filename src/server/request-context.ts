// Per-request values handed from the Node request to Connect handlers and interceptors.
import { createContextKey } from "@connectrpc/connect";
import type { PeerIdentity } from "./peer-identity.js";
import type { ServiceError } from "./service-error.js";

/** The authenticated peer, or why authentication failed; undefined when nothing was set. */
export const peerKey = createContextKey<PeerIdentity | ServiceError | undefined>(undefined, {
  description: "authenticated peer",
});

/** Set by the request gate when it refused a request before Connect read it. */
export const gateErrorKey = createContextKey<ServiceError | undefined>(undefined, {
  description: "request refused by the gate",
});
