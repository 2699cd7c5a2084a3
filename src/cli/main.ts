// Entry point: fast paths for --version/--help, routing of `primary:selector` words to
// commands, and the exit-code policy (0 ok, 1 failed, 2 user error, 130 interrupted).
import { VERSION } from "../lib/version.ts";

const STRING_FLAGS = new Set(["--config", "--profile", "--jobs", "-j", "--report", "--output", "--older-than", "--version-tag", "--engine"]);

async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first === "--version" || first === "-v" || first === "version") {
    // console.log: process.stdout (and even node:fs) cost more than the rest of the start.
    console.log(`dwf ${VERSION}`);
    return 0;
  }
  const { index, word } = findCommandWord(argv);
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

/** The first argument that is not a flag or a flag's value. */
function findCommandWord(argv: string[]): { index: number; word?: string } {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") return { index: i };
    if (a.startsWith("-")) {
      if (STRING_FLAGS.has(a)) i++;
      continue;
    }
    return { index: i, word: a };
  }
  return { index: argv.length };
}

const code = await main(process.argv.slice(2));
// Exit at once: nothing may linger after the answer (help, version, or a finished run).
process.exit(code);
