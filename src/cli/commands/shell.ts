// `dwf shell [-- cmd…]`: an interactive shell (or one command) in the task image with the same
// mounts, env and user mapping a task gets — the way to reproduce a CI failure locally.
import { defineCommand } from "./args.ts";
import { configArgs } from "./_shared.ts";
import { extensionSource } from "../wiring.ts";
import { runShell } from "../../runtime/shell.ts";

export default defineCommand({
  meta: { name: "shell", description: "Open a shell in the container image tasks use, or run one command there" },
  args: {
    ...configArgs,
    command: {
      type: "positional",
      required: false,
      description: "A command to run instead of the shell, after '--' (e.g. dwf shell -- make test)",
      valueHint: "-- cmd…",
    },
  },
  async run({ args }) {
    return runShell({ cwd: process.cwd(), config: args.config, command: args._.map(String), extensions: extensionSource });
  },
});
