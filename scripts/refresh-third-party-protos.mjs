// Refreshes third_party/proto from pinned npm packages (the Buf Schema Registry is unreachable
// here). Copies are committed so `buf breaking` and fresh clones need no network.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const SOURCES = [
  {
    pkg: "google-proto-files@5.0.3",
    files: {
      "google/api/annotations.proto": "google/api/annotations.proto",
      "google/api/http.proto": "google/api/http.proto",
      "google/rpc/error_details.proto": "google/rpc/error_details.proto",
    },
  },
  {
    pkg: "grpc-health-check@2.1.0",
    files: { "proto/health/v1/health.proto": "grpc/health/v1/health.proto" },
  },
  {
    pkg: "@grpc/reflection@1.0.4",
    files: {
      "build/proto/grpc/reflection/v1/reflection.proto": "grpc/reflection/v1/reflection.proto",
      "build/proto/grpc/reflection/v1alpha/reflection.proto":
        "grpc/reflection/v1alpha/reflection.proto",
    },
  },
];

const root = join(dirname(new URL(import.meta.url).pathname), "..");
const out = join(root, "third_party/proto");
const work = mkdtempSync(join(tmpdir(), "protos-"));
try {
  for (const { pkg, files } of SOURCES) {
    const tgz = execFileSync("npm", ["pack", pkg, "--silent", "--pack-destination", work], {
      cwd: work,
      encoding: "utf8",
    }).trim();
    const dir = join(work, tgz.replace(/\.tgz$/, ""));
    mkdirSync(dir);
    execFileSync("tar", ["-xzf", join(work, tgz), "-C", dir, "--strip-components=1"]);
    for (const [from, to] of Object.entries(files)) {
      mkdirSync(dirname(join(out, to)), { recursive: true });
      cpSync(join(dir, from), join(out, to));
      console.log(`${pkg}: ${from} -> third_party/proto/${to}`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
