// The version of this build, from package.json: `nixfleet-cp --version` and the
// nixfleet_cp_build_info metric.
import packageJson from "../../package.json" with { type: "json" };

/** The package version, e.g. "0.1.0". */
export const VERSION: string = packageJson.version;
