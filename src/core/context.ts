// The extension context: project root, environment and a memoised PATH lookup, so
// extensions can ask "is this tool installed?" without each spawning `which`.
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";
import type { ExtensionContext } from "../sdk/types.ts";

export function findOnPath(program: string, pathVar = process.env.PATH ?? ""): string | null {
  if (program.includes("/")) return isExecutable(program) ? program : null;
  for (const dir of pathVar.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, program);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

export function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * `lookup` replaces the host PATH search: under the container profile the core answers from
 * the image (runtime/tool-probe.ts), so an action never depends on what the host has.
 */
export function createContext(root: string, env: Record<string, string | undefined> = process.env, lookup?: (program: string) => string | null): ExtensionContext {
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
