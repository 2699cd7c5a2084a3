// `dwf doctor` (also `dwf setup:doctor`): what this machine has and lacks for the project's
// profile. Exit 0 when everything needed is present, 1 otherwise.
import { defineCommand } from "./args.ts";
import { configArgs } from "./_shared.ts";
import { extensionSource } from "../wiring.ts";
import { runDoctor } from "../../doctor/checks.ts";
import { renderDoctor } from "../../doctor/render.ts";
import { EXIT } from "../../lib/errors.ts";
import { redactText } from "../../lib/redact.ts";
import { writeStdout } from "../../lib/out.ts";

export default defineCommand({
  meta: { name: "doctor", description: "Check the tools, container engine, image, cache and extensions this project needs" },
  args: {
    target: {
      type: "positional",
      required: false,
      description: "The [targets] profile whose tools are needed (default: pr, what 'dwf verify' runs)",
      valueHint: "profile",
    },
    ...configArgs,
    profile: {
      type: "string",
      description: "Check for this runtime profile: host, container or auto (env DWF_PROFILE)",
      valueHint: "host|container|auto",
    },
    json: { type: "boolean", description: "Machine-readable result on stdout" },
  },
  async run({ args }) {
    const report = await runDoctor({
      cwd: process.cwd(),
      config: args.config,
      profile: args.profile,
      target: args.target as string | undefined,
      extensions: extensionSource,
    });
    writeStdout(args.json ? redactText(JSON.stringify(report, null, 2)) + "\n" : renderDoctor(report));
    return report.ok ? EXIT.ok : EXIT.failed;
  },
});
