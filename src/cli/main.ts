// nixfleet-cp command line: dispatches subcommands (serve, dev, pki, migrate, rollout).
const [command = "--help"] = process.argv.slice(2);
if (command === "--help" || command === "-h" || command === "help") {
  console.log("usage: nixfleet-cp <serve|dev|pki|migrate|rollout> [options]");
  process.exit(0);
}
console.error(`nixfleet-cp ${command}: not implemented yet`);
process.exit(2);
