// Writing generated files without losing user work: refuse existing files unless forced,
// never follow a symlink out of the project, and replace atomically (temp file + rename).
import { resolve } from "node:path";
import { UserError } from "../core/errors.ts";
import { checkInsideProject, writeFileAtomic } from "../core/safe-write.ts";

export interface PlannedFile {
  /** Path relative to the project root. */
  path: string;
  content: string;
}

/** Check every file before writing any, so a refusal leaves the project untouched. */
export function checkWritable(root: string, files: PlannedFile[], force: boolean): void {
  const existing = files.filter((f) => checkInsideProject(root, f.path, f.path)).map((f) => f.path);
  if (existing.length && !force) {
    throw new UserError(
      `${existing.join(", ")} already exist${existing.length === 1 ? "s" : ""}; dwf init never overwrites files (nothing was written).`,
      "Run 'dwf init --dry-run' to see what it would write, or 'dwf init --force' to replace them.",
    );
  }
}

export function writeAtomic(root: string, file: PlannedFile): string {
  const target = resolve(root, file.path);
  writeFileAtomic(target, file.content);
  return target;
}
