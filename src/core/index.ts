// The public API of the pure core: domain types, events, effects, errors, instants, and the
// functions the runtime, the store and the server call. The per-state modules stay private.
export * from "./domain.js";
export * from "./effect.js";
export * from "./event.js";
export * from "./heartbeat.js";
export * from "./instant.js";
export * from "./open-rollout.js";
export * from "./refusal.js";
export * from "./replay.js";
export * from "./rollout-id.js";
export * from "./rollout-status.js";
export * from "./seq-gaps.js";
export * from "./step.js";
export * from "./step-error.js";
export * from "./unsafe-text.js";
