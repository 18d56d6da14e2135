// The plain listeners' address rules: health on any address, metrics on loopback unless
// explicitly allowed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, parseServeConfig } from "../../../src/config/service-config.js";

test("--health-listen takes any address", () => {
  const config = parseServeConfig(["--health-listen", "0.0.0.0:8080"], {});
  assert.deepEqual(config.healthListen, { host: "0.0.0.0", port: 8080 });
  assert.deepEqual(parseServeConfig([], { NIXFLEET_CP_HEALTH_LISTEN: "[::]:8080" }).healthListen, {
    host: "::",
    port: 8080,
  });
  assert.equal(parseServeConfig([], {}).healthListen, undefined);
});

test("--metrics-listen stays loopback-only unless --metrics-listen-allow-remote true", () => {
  assert.throws(
    () => parseServeConfig(["--metrics-listen", "0.0.0.0:9100"], {}),
    (e: unknown) => e instanceof ConfigError && /metrics-listen-allow-remote/.test(e.message),
  );
  const allowed = parseServeConfig(
    ["--metrics-listen", "0.0.0.0:9100", "--metrics-listen-allow-remote", "true"],
    {},
  );
  assert.deepEqual(allowed.metricsListen, { host: "0.0.0.0", port: 9100 });
  assert.deepEqual(parseServeConfig(["--metrics-listen", "127.0.0.1:9100"], {}).metricsListen, {
    host: "127.0.0.1",
    port: 9100,
  });
});
