// `nixfleet-cp audit`: re-verifies every signed event in the event log straight from the
// database (SPEC §9), prints the ones that fail and exits 1 when any does.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { auditSignedEvent } from "../server/signature/audit-signed-event.js";
import { createDatabase, parseDatabaseUrl } from "../storage/database.js";
import { listSignedEvents } from "../storage/list-signed-events.js";
import { parseCommandArgs } from "./args.js";
import { AUDIT_FLAGS } from "./flags.js";
import { CommandError } from "./operator-client.js";
import { UsageError } from "./usage.js";

const PAGE = 500;

/** `audit [--db URL] [--rollout R] [--host H] [--json]`. */
export async function auditCommand(argv: readonly string[]): Promise<void> {
  const args = parseCommandArgs("audit", argv, AUDIT_FLAGS);
  const stateDir = resolve(args.string("state-dir") ?? ".state");
  const url = args.string("db") ?? join(stateDir, "nixfleet-cp.sqlite");
  let target: ReturnType<typeof parseDatabaseUrl>;
  try {
    target = parseDatabaseUrl(url);
  } catch (error) {
    throw new UsageError(`--db: ${(error as Error).message}`, "audit");
  }
  // Opening a missing SQLite file would create an empty database and find nothing to audit.
  if (target.kind === "sqlite" && target.path !== ":memory:" && !existsSync(target.path)) {
    throw new CommandError(`--db: no database at ${target.path}`);
  }
  const rolloutId = args.string("rollout");
  const hostname = args.string("host");
  const filter = {
    ...(rolloutId !== undefined ? { rolloutId } : {}),
    ...(hostname !== undefined ? { hostname } : {}),
  };
  const json = args.flag("json");
  const database = await createDatabase(url);
  let checked = 0;
  let bad = 0;
  try {
    let afterId = 0;
    for (;;) {
      const rows = await listSignedEvents(database.db, filter, { afterId, limit: PAGE });
      for (const row of rows) {
        checked++;
        const problem = auditSignedEvent(row);
        if (problem === undefined) continue;
        bad++;
        const { id, rolloutId: r, hostname: h, seq, kind } = row;
        process.stdout.write(
          json
            ? `${JSON.stringify({ id, rolloutId: r, hostname: h, seq, kind, problem })}\n`
            : `BAD  id ${id}  ${r}  ${h}  seq ${seq}  ${kind}: ${problem}\n`,
        );
      }
      const last = rows.at(-1);
      if (last === undefined || rows.length < PAGE) break;
      afterId = last.id;
    }
  } finally {
    await database.close();
  }
  if (!json) {
    process.stdout.write(
      `${checked} signed event${checked === 1 ? "" : "s"} checked, ${bad} failed${bad === 0 ? "" : " (listed above)"}\n`,
    );
  }
  if (bad > 0) process.exitCode = 1;
}
