// `nixfleet-cp migrate`: brings a database to the latest schema (or reverts one step) without
// starting the service, e.g. before a rolling upgrade of replicas sharing PostgreSQL.
import { mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { createDatabase, parseDatabaseUrl } from "../storage/database.js";
import { migrateDown, migrateToLatest } from "../storage/migrate.js";
import { parseCommandArgs } from "./args.js";
import { MIGRATE_FLAGS } from "./flags.js";
import { UsageError } from "./usage.js";

/** `migrate [--db URL] [--down]`. */
export async function migrateCommand(argv: readonly string[]): Promise<void> {
  const args = parseCommandArgs("migrate", argv, MIGRATE_FLAGS);
  const stateDir = resolve(args.string("state-dir") ?? ".state");
  const given = args.string("db");
  const url = given ?? join(stateDir, "nixfleet-cp.sqlite");
  let target: ReturnType<typeof parseDatabaseUrl>;
  try {
    target = parseDatabaseUrl(url);
  } catch (error) {
    throw new UsageError(`--db: ${(error as Error).message}`, "migrate");
  }
  // The default lives in the state dir, which a fresh checkout lacks; a --db path whose
  // directory is missing is more likely a typo, refused by createDatabase.
  if (given === undefined && target.kind === "sqlite") {
    await mkdir(dirname(resolve(target.path)), { recursive: true });
  }
  const where = target.kind === "sqlite" ? target.path : redact(target.url);
  const database = await createDatabase(url);
  try {
    if (args.flag("down")) {
      const reverted = await migrateDown(database);
      print(args.flag("json"), { database: where, reverted: reverted ?? null }, () =>
        reverted === undefined
          ? `${where}: no migration to revert`
          : `${where}: reverted ${reverted}`,
      );
      return;
    }
    const applied = await migrateToLatest(database);
    print(args.flag("json"), { database: where, applied }, () =>
      applied.length === 0
        ? `${where}: up to date, no migration applied`
        : [
            `${where}: applied ${applied.length} migration(s)`,
            ...applied.map((m) => `  ${m}`),
          ].join("\n"),
    );
  } finally {
    await database.close();
  }
}

function print(json: boolean, value: object, text: () => string): void {
  process.stdout.write(`${json ? JSON.stringify(value) : text()}\n`);
}

// A connection string may carry a password; it has no business in a terminal's scrollback.
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return "postgres://…";
  }
}
