// `dwf warm <command>…`: run what the commands' stacks say prepares the workspace for them
// (their warm actions: e.g. a linter's analysis of the dependencies), not the commands
// themselves. CI's warm job runs it so the verify jobs start from a workspace where nothing
// but the project's own code is left to build. A failed warm action is a warning.
import { defineCommand } from "./args.ts";
import { runArgs, runWithFlags } from "./_shared.ts";
import { formatRef, parseCommandRef } from "../../sdk/command-ref.ts";
import { UserError } from "../../lib/errors.ts";

export default defineCommand({
  meta: {
    name: "warm",
    description: "Prepare build outputs for commands run later (CI's warm job); runs their warm actions, not the commands",
  },
  args: {
    command: {
      type: "positional",
      required: true,
      description: "Commands to warm, e.g. lint:static (or check:<profile>)",
      valueHint: "primary[:selector]…",
    },
    ...runArgs,
  },
  async run({ args }) {
    const words = args._ as string[];
    if (words.length === 0) throw new UserError("'dwf warm' needs the commands to warm.", "Example: dwf warm lint:static");
    const refs = words.map((w, i) => parseCommandRef(w, `dwf warm: argument ${i + 1}`));
    return runWithFlags(args, refs, `warm ${refs.map(formatRef).join(" ")}`, { warm: true });
  },
});
