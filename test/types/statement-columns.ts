// Type-level test (checked by `npm run typecheck`, never run): the hot paths' statement
// builders refuse a column the schema lacks. Each @ts-expect-error line must stay an error,
// or tsc fails with "unused directive": the builders stopped catching wrong columns.
import type { Insertable } from "kysely";
import {
  compileStatement,
  placeholderRow,
  statementBuilder,
} from "../../src/storage/compiled-statement.js";
import { type ColumnTypes, columnsOf, unnestRows } from "../../src/storage/postgres-unnest.js";
import { selectRecords } from "../../src/storage/record-row.js";
import {
  onRefusalConflict,
  REFUSAL_COLUMNS,
  type RefusalRow,
} from "../../src/storage/refused-events.js";
import type { EventLogTable } from "../../src/storage/schema.js";

const sqlite = statementBuilder("sqlite");
const postgres = statementBuilder("postgres");
type EventArgs = Omit<Insertable<EventLogTable>, "id">;

// SQLite: the record read, the event insert, the record update, the refusal upsert.
compileStatement((p: { rolloutId: string }) =>
  // @ts-expect-error rolout_id is not a column of host_rollout_records
  selectRecords(sqlite).where("r.rolout_id", "=", p.rolloutId),
);
compileStatement((p: EventArgs) =>
  sqlite.insertInto("event_log").values(
    placeholderRow(p, [
      "recorded_at",
      // @ts-expect-error hostnam is not a column of event_log
      "hostnam",
      "rollout_id",
      "seq",
      "kind",
      "payload",
      "signature",
      "synthesized",
      "signed_form",
      "signer_key",
    ]),
  ),
);
compileStatement((p: { seq: number }) =>
  // @ts-expect-error last_seq is not a column of host_rollout_records
  sqlite.updateTable("host_rollout_records").set({ last_seq: p.seq }),
);
compileStatement((p: { hostname: string }) =>
  // @ts-expect-error hostnam is not a column of refused_events
  sqlite.deleteFrom("refused_events").where("hostnam", "=", p.hostname),
);
compileStatement((p: RefusalRow) =>
  sqlite
    .insertInto("refused_events")
    .values(placeholderRow(p, REFUSAL_COLUMNS))
    // @ts-expect-error refused_at is not a column of refused_events
    .onConflict((oc) => oc.columns(["hostname", "refused_at"]).doNothing()),
);
compileStatement((p: RefusalRow) =>
  sqlite
    .insertInto("refused_events")
    .values(placeholderRow(p, REFUSAL_COLUMNS))
    .onConflict(onRefusalConflict),
);

// PostgreSQL: the per-column arrays, what is selected from them and what comes back.
// @ts-expect-error hostnam is not a column of event_log
const WRONG_TYPES = { hostnam: "text" } as const satisfies ColumnTypes<EventLogTable>;
void WRONG_TYPES;
const TYPES = { hostname: "text", seq: "bigint" } as const satisfies ColumnTypes<EventLogTable>;
compileStatement((p: { hostname: unknown[]; seq: unknown[] }) =>
  postgres
    .insertInto("event_log")
    .columns(columnsOf(TYPES))
    .expression((eb) =>
      // @ts-expect-error u has no column kind (TYPES does not declare it)
      eb.selectFrom(unnestRows("u", TYPES, p, true)).select(["u.hostname", "u.kind"]),
    )
    // @ts-expect-error event_id is not a column of event_log
    .returning(["id", "event_id"]),
);
compileStatement(() =>
  // @ts-expect-error lock rows of a table the query does not name
  selectRecords(postgres).forNoKeyUpdate("x"),
);
