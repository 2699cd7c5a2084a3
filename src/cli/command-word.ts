// Finding the command word in dwf's argv before any command is loaded (main.ts): flags may
// come first (`dwf --profile host verify`), and a flag that takes a value takes the next word.
/** The first argument that is not a flag or a flag's value (`valueFlags` says which flags take one). */
export function findCommandWord(argv: string[], valueFlags: ReadonlySet<string>): { index: number; word?: string } {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") return { index: i };
    if (a.startsWith("-")) {
      if (valueFlags.has(a)) i++;
      continue;
    }
    return { index: i, word: a };
  }
  return { index: argv.length };
}
