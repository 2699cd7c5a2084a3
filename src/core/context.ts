// The extension context: project root, environment and a memoised PATH lookup, so
// extensions can ask "is this tool installed?" without each spawning `which`.
import { isAbsolute } from "node:path";
import { findOnPath, isExecutable } from "../lib/process.ts";
import type { ExtensionContext } from "../sdk/types.ts";

/**
 * `lookup` replaces the host PATH search: under the container profile the core answers from
 * the image (runtime/tool-probe.ts), so an action never depends on what the host has.
 */
export function createContext(
  root: string,
  env: Record<string, string | undefined> = process.env,
  lookup?: (program: string) => string | null,
): ExtensionContext {
  const memo = new Map<string, string | null>();
  const onHost = (program: string) => (isAbsolute(program) ? (isExecutable(program) ? program : null) : findOnPath(program, env.PATH));
  const find = lookup ?? onHost;
  return {
    root,
    env,
    which(program) {
      if (!memo.has(program)) memo.set(program, find(program));
      return memo.get(program)!;
    },
  };
}
