// Runs the test suites with node:test through tsx over explicit files (node 20 silently runs
// nothing when given a directory or quoted glob), and fails when no test file is found.
import { execSync, spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const suites = process.argv.slice(2);
const dirs = (suites.length > 0 ? suites : ["unit", "contract", "storage", "e2e", "interop"]).map(
  (s) => join(root, "test", s),
);

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
// The storage and e2e suites need PostgreSQL on 127.0.0.1:5432 (NIXFLEET_CP_TEST_PG). On a
// machine where it is installed but stopped, start it, as .ci/run does; the suites fail,
// never skip, when it stays unreachable.
function postgresUp() {
  try {
    execSync("pg_isready -q -h 127.0.0.1 -p 5432", { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
if (files.some((f) => /test\/(storage|e2e)\//.test(f)) && !postgresUp()) {
  try {
    const version = execSync("ls /etc/postgresql", { encoding: "utf8" }).split("\n")[0];
    execSync(`pg_ctlcluster --skip-systemctl-redirect ${version} main start`, { stdio: "inherit" });
  } catch {
    console.error("PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started");
  }
}

const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=1", "--test-reporter=spec", ...files],
  { cwd: root, stdio: "inherit" },
);
process.exit(result.status ?? 1);
