// The public API of the store: opening a database, migrations, repositories and the batch
// applier the reducer commits through.
export * from "./apply-batch.js";
export * from "./count-hosts.js";
export * from "./database.js";
export * from "./get-record.js";
export * from "./hosts.js";
export type { Queryable } from "./in-transaction.js";
export * from "./last-event-seq.js";
export * from "./list-events.js";
export * from "./list-probe-failures.js";
export * from "./list-quarantines.js";
export * from "./list-records.js";
export * from "./list-signed-events.js";
export * from "./migrate.js";
export * from "./open-rollout.js";
export * from "./operator-views.js";
export * from "./record-head.js";
export * from "./refused-events.js";
export * from "./revocations.js";
export * from "./rollout.js";
export type * from "./schema.js";
