// `dwf upgrade`: replace this dwf binary with the latest (or a chosen) release, verified
// against the release's SHA256SUMS. DWF_DOWNLOAD_BASE points at a mirror.
import { defineCommand } from "./args.ts";
import { repository, VERSION } from "../../lib/version.ts";
import { writeStdout } from "../../lib/out.ts";

export default defineCommand({
  meta: { name: "upgrade", description: "Replace this dwf with the latest release (or --version X), checksum-verified" },
  args: {
    version: { type: "string", description: "Release to install, e.g. 1.2.0 (default: latest)", valueHint: "version" },
    "dry-run": { type: "boolean", alias: ["n"], description: "Only report the installed and the available version" },
    force: { type: "boolean", description: "Reinstall even when that version is already installed" },
  },
  async run({ args }) {
    const { upgrade } = await import("../../release/upgrade.ts");
    return upgrade({
      current: VERSION,
      repository: repository(),
      version: args.version,
      base: process.env.DWF_DOWNLOAD_BASE || undefined,
      dryRun: Boolean(args["dry-run"]),
      force: Boolean(args.force),
      out: writeStdout,
    });
  },
});
