// Reading a failed task's output for the one diagnosis users need most: exit code 127 from a
// program that did start means a command *inside* the task (a script's tool, a test runner
// from the project's dependencies) was not found. Shell and exec-wrapper wordings only: the
// core knows no toolchain.
import type { RuntimeKind } from "./runner.ts";

/** The shell convention for "command not found". */
export const NOT_FOUND_EXIT = 127;

const PATTERNS: RegExp[] = [
  // dash `sh: 1: mocha: not found`, busybox `sh: mocha: not found`, bash `bash: line 1: mocha: command not found`
  /^(?:[^\s:]*sh|[^:\n]+): (?:line )?(?:\d+: )?([^\s:'"`]+): (?:command )?not found\s*$/m,
  // dash when a folder on PATH cannot be searched: `sh: 1: mocha: Permission denied` (still exit 127)
  /^[^\s:]*sh: (?:\d+: )?([^\s:'"`]+): Permission denied\s*$/m,
  // zsh `zsh:1: command not found: mocha`
  /^[^\s:]*sh:(?:\d+:)? command not found: ([^\s'"`]+)\s*$/m,
  // coreutils `env: 'mocha': No such file or directory`, busybox `env: can't execute 'mocha': …`
  /^(?:[^\s:]+): (?:can't execute )?'([^']+)': No such file or directory\s*$/m,
  // GNU make `make: mocha: No such file or directory` / `make: mocha: Command not found`
  /^make(?:\[\d+\])?: ([^\s:'"`]+): (?:No such file or directory|Command not found)\s*$/m,
];

/** The missing command's name, when the output says which (the last such line wins). */
export function missingCommand(output: string): string | undefined {
  let best: { at: number; name: string } | undefined;
  for (const re of PATTERNS) {
    const global = new RegExp(re.source, "gm");
    for (const m of output.matchAll(global)) {
      if (m.index !== undefined && (!best || m.index > best.at)) best = { at: m.index, name: m[1]! };
    }
  }
  return best?.name;
}

/** The message for a task that started and exited 127. */
export function notFoundMessage(output: string, where: RuntimeKind): string {
  const name = missingCommand(output);
  const place = where === "container" ? "inside the image" : "on PATH";
  const what = name
    ? `a command inside the task was not found: '${name}' (exit code 127)`
    : "a command inside the task was not found (exit code 127; see the output above)";
  return `${what}. It is not ${place} when the task runs: install the project's dependencies ('dwf setup:deps'), or add the tool ${where === "container" ? "to the image" : "to this machine"}.`;
}
