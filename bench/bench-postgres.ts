// The PostgreSQL of a `--db postgres` run: NIXFLEET_CP_BENCH_PG (a superuser URL) when set,
// else an embedded PostgreSQL 17 from node_modules with production durability (fsync and
// synchronous commit on); every server, and the raw pg baseline, gets a fresh database.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { startEmbeddedPostgres } from "../test/test-postgres.js";

/** The variable that points the bench at an existing PostgreSQL. */
export const BENCH_PG_VARIABLE = "NIXFLEET_CP_BENCH_PG";

/** A PostgreSQL cluster for one bench run. */
export interface BenchPostgres {
  /** What it is, for the report: "embedded …" or the given server, and its version. */
  readonly description: string;
  /** Creates an empty database and returns its URL; dropped by stop(). */
  freshDatabase(): Promise<string>;
  /** Drops the databases made (and stops the embedded cluster). */
  stop(): Promise<void>;
}

/** Starts (or connects to) the run's PostgreSQL. */
export async function startBenchPostgres(log: (line: string) => void): Promise<BenchPostgres> {
  const given = process.env[BENCH_PG_VARIABLE];
  const embedded =
    given === undefined || given === ""
      ? await startEmbeddedPostgres({ durable: true })
      : undefined;
  const adminUrl = given || (embedded?.url as string);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const { rows } = await admin.query<{ v: string }>("select version() as v");
  const version = (rows[0]?.v ?? "PostgreSQL").split(" on ")[0] as string;
  const description = embedded
    ? `embedded ${version} on 127.0.0.1 (node_modules), fsync and synchronous_commit on`
    : `${version} at ${BENCH_PG_VARIABLE}`;
  log(`PostgreSQL: ${description}`);
  const made: string[] = [];
  return {
    description,
    async freshDatabase() {
      const name = `nixfleet_bench_${randomBytes(4).toString("hex")}`;
      await admin.query(`create database ${name}`);
      made.push(name);
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      return url.toString();
    },
    async stop() {
      for (const name of made) {
        await admin.query(`drop database if exists ${name} with (force)`).catch(() => undefined);
      }
      await admin.end();
      await embedded?.stop();
    },
  };
}
