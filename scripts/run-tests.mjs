// Runs the test suites with node:test through tsx over explicit files (node 20 silently runs
// nothing when given a directory or quoted glob), and fails when no test file is found. Global
// setup: one PostgreSQL for the whole run, NIXFLEET_CP_TEST_PG or an embedded one started here.
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { register } from "tsx/esm/api";

const root = new URL("..", import.meta.url).pathname;
const suites = process.argv.slice(2);
const dirs = (
  suites.length > 0 ? suites : ["unit", "contract", "storage", "e2e", "interop", "hostile"]
).map((s) => join(root, "test", s));

function collect(dir) {
  let out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries.sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out = out.concat(collect(path));
    else if (name.endsWith(".test.ts")) out.push(relative(root, path));
  }
  return out;
}

const files = dirs.flatMap(collect);
if (files.length === 0) {
  console.error(`no test files under ${dirs.map((d) => relative(root, d)).join(", ")}`);
  process.exit(1);
}

// The storage and e2e suites need PostgreSQL. Without NIXFLEET_CP_TEST_PG, one embedded
// cluster serves every test process of this run (a test file run on its own starts its own).
register();
const { TEST_PG_VARIABLE, startEmbeddedPostgres } = await import("../test/test-postgres.ts");
let cluster;
if (files.some((f) => /^test\/(storage|e2e|hostile)\//.test(f))) {
  const given = process.env[TEST_PG_VARIABLE];
  if (given !== undefined && given !== "") {
    console.error(`test PostgreSQL: ${TEST_PG_VARIABLE}=${given}`);
  } else {
    const started = Date.now();
    cluster = await startEmbeddedPostgres();
    process.env[TEST_PG_VARIABLE] = cluster.url;
    console.error(
      `test PostgreSQL: embedded, ${cluster.url} (started in ${Date.now() - started} ms, data in ${cluster.dir})`,
    );
  }
}

// The suites run with PostEvent on the lean path (the default); the contract suite runs a
// second time through connect-node, the reference (NIXFLEET_CP_TEST_LEAN_PATH, test/e2e/harness.ts).
const runs = [{ files, env: process.env }];
const contract = files.filter((f) => f.startsWith("test/contract/"));
if (contract.length > 0 && process.env.NIXFLEET_CP_TEST_LEAN_PATH === undefined) {
  runs.push({ files: contract, env: { ...process.env, NIXFLEET_CP_TEST_LEAN_PATH: "off" } });
}
let status = 0;
for (const run of runs) {
  if (run !== runs[0])
    console.error("contract suite again, through connect-node (--lean-path off)");
  const code = await runFiles(run.files, run.env);
  status ||= code;
}
await cluster?.stop();
process.exit(status);

function runFiles(list, env) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "--test", "--test-concurrency=1", "--test-reporter=spec", ...list],
    { cwd: root, stdio: "inherit", env },
  );
  // A signal to this process alone still ends the tests (Ctrl-C reaches the whole group); the
  // embedded cluster stops on exit either way (test/test-postgres.ts).
  const forward = (signal) => child.kill(signal);
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, forward);
  return new Promise((resolve) =>
    child.once("exit", (code) => {
      for (const signal of ["SIGINT", "SIGTERM"]) process.off(signal, forward);
      resolve(code ?? 1);
    }),
  );
}
