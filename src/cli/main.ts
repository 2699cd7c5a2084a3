// Entry point: fast paths for --version/--help, routing of `primary:selector` words to
// commands, and the exit-code policy (0 ok, 1 failed, 2 user error, 130 interrupted).
import { VERSION } from "../lib/version.ts";
import { valueFlags } from "./flags.ts" with { type: "macro" };
import { findCommandWord } from "./command-word.ts";

/**
 * Flags whose next argument is their value: every string option of every command, derived from
 * the command definitions when dwf is built (a macro: its awaited value is inlined here).
 */
const STRING_FLAGS = new Set(valueFlags() as unknown as string[]);

async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first === "--version" || first === "-v" || first === "version") {
    // console.log: process.stdout (and even node:fs) cost more than the rest of the start.
    console.log(`dwf ${VERSION}`);
    return 0;
  }
  const { index, word } = findCommandWord(argv, STRING_FLAGS);
  if (word === undefined || word === "help") {
    const helpTarget = word === "help" ? argv[index + 1] : undefined;
    if (!helpTarget) {
      const { topLevelHelp } = await import("./help.ts");
      await Bun.write(Bun.stdout, topLevelHelp());
      return argv.length === 0 || argv.some((a) => a === "--help" || a === "-h") || word === "help" ? 0 : 2;
    }
    return main([helpTarget, "--help"]);
  }
  const rest = [...argv.slice(0, index), ...argv.slice(index + 1)];
  const { route } = await import("./router.ts");
  return route(word, rest);
}

const code = await main(process.argv.slice(2));
// Exit at once: nothing may linger after the answer (help, version, or a finished run).
process.exit(code);
