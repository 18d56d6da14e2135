// The lint check against hand-written query text (scripts/check-query-text.ts): it passes on
// allowed forms and catches each way of writing a query by hand, including the obvious dodges.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";

const SCRIPT = resolve(import.meta.dirname, "../../scripts/check-query-text.ts");

function run(files: Record<string, string>): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), "nixfleet-query-text-"));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, ".."), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const r = spawnSync(process.execPath, ["--import", "tsx", SCRIPT, dir], { encoding: "utf8" });
    return { status: r.status, output: r.stdout + r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const BAD: Record<string, string> = {
  "src/a/plain.ts": `export const Q = "SELECT state FROM host_rollout_records WHERE hostname = ?";`,
  "src/a/multiline.ts": "export const Q = `insert into\n  event_log (seq)\n  values (?)`;",
  "src/a/concat.ts": `export const Q = "sel" + "ect id " + "fr" + "om event_log";`,
  "src/a/joined.ts": `export const Q = ["delete", "from", "hosts"].join(" ");`,
  // biome-ignore lint/suspicious/noTemplateCurlyInString: fixture source text
  "src/a/template.ts": "const t = 'hosts'; export const Q = `update ${t} set x = 1`;",
  "src/a/tag.ts": `import { sql } from "kysely"; export const Q = sql\`select 1\`;`,
  "src/a/alias.ts": `import { sql as q } from "kysely"; export const Q = q\`insert\`;`,
  "src/a/raw.ts": `import { sql } from "kysely"; export const Q = sql.raw(text());`,
  "src/a/compiled.ts": `import { CompiledQuery } from "kysely"; CompiledQuery.raw(x());`,
  "src/a/prepare.ts": `declare const raw: any; declare const text: string; raw.prepare(text);`,
  "src/a/query.ts": `declare const client: any; declare const t: string; client.query({ text: t });`,
  "src/a/exec.ts": `declare const raw: any; raw.exec("pragma writable_schema = 1");`,
  "src/a/conflict.ts": `export const C = "on conflict (hostname) do update set x = 1";`,
};

test("every hand-written query is reported, each in its file", () => {
  const { status, output } = run(BAD);
  assert.equal(status, 1, output);
  for (const path of Object.keys(BAD)) assert.match(output, new RegExp(`${path}:\\d+`), path);
});

test("builders, compiled text, transaction control, RegExp#exec and migrations pass", () => {
  const { status, output } = run({
    "src/a/ok.ts": [
      `import { sql } from "kysely";`,
      `declare const raw: any; declare const client: any; declare const s: { sql: string };`,
      `raw.prepare("begin immediate"); raw.exec("rollback"); client.query("commit");`,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: fixture source text
      "client.query(`listen ${'channel'}`);",
      `raw.prepare(s.sql); client.query({ name: "n", text: s.sql, values: [] });`,
      `/^(\\d+)$/.exec("choose a host");`,
      "export const lock = sql`lock table event_log in row exclusive mode`;",
      `export const message = "choose a host to update";`,
    ].join("\n"),
    "src/storage/migrations/0001.ts": `export const up = "create table t (x int); insert into t values (1)";`,
  });
  assert.equal(status, 0, output);
});
