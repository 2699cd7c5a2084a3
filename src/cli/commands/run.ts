// `dwf <primary>[:<selector>]` and `dwf <primary> <selector>`: one canonical command on
// every applicable stack.
import { defineCommand } from "./args.ts";
import { runArgs, runWithFlags } from "./_shared.ts";
import { formatRef, parseCommandRef } from "../../sdk/command-ref.ts";
import { UserError } from "../../lib/errors.ts";

export default defineCommand({
  meta: { name: "<primary>:<selector>", description: "Run one canonical command (e.g. test:unit, fmt:fix) on every applicable stack" },
  args: {
    command: { type: "positional", required: true, description: "primary[:selector], e.g. test:unit", valueHint: "primary[:selector]" },
    selector: { type: "positional", required: false, description: "Selector, when written as 'dwf test unit'" },
    ...runArgs,
  },
  async run({ args }) {
    let word = args.command as string;
    const selector = args.selector as string | undefined;
    if (selector !== undefined) {
      if (word.includes(":")) throw new UserError(`'${word}' already has a selector; drop '${selector}'.`);
      word = `${word}:${selector}`;
    }
    if (args._.length > 2) throw new UserError(`unexpected argument '${args._[2]}'.`, "Usage: dwf <primary>[:<selector>] [options]");
    const ref = parseCommandRef(word);
    return runWithFlags(args, [ref], formatRef(ref));
  },
});
