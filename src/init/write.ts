// Writing generated files without losing user work: refuse existing files unless forced,
// never follow a symlink out of the project, and replace atomically (temp file + rename).
import { lstatSync, mkdirSync, realpathSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve, isAbsolute, sep } from "node:path";
import { randomBytes } from "node:crypto";
import { UserError } from "../core/errors.ts";

export interface PlannedFile {
  /** Path relative to the project root. */
  path: string;
  content: string;
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/** Check every file before writing any, so a refusal leaves the project untouched. */
export function checkWritable(root: string, files: PlannedFile[], force: boolean): void {
  const realRoot = realpathSync(root);
  const existing: string[] = [];
  for (const f of files) {
    const target = resolve(root, f.path);
    if (!inside(root, target)) throw new UserError(`refusing to write ${f.path}: it is outside the project ${root}.`);
    // The parent directories must resolve inside the project too (no symlinked folder out of it).
    let parent = dirname(target);
    while (!exists(parent)) parent = dirname(parent);
    if (!inside(realRoot, realpathSync(parent))) throw new UserError(`refusing to write ${f.path}: its folder leads outside the project through a symlink.`);
    let st;
    try {
      st = lstatSync(target);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) {
      let real: string | null = null;
      try {
        real = realpathSync(target);
      } catch {
        /* dangling */
      }
      if (real === null || !inside(realRoot, real)) {
        throw new UserError(`refusing to write ${f.path}: it is a symlink pointing outside the project (${real ?? "dangling"}).`, "Remove the link, then run 'dwf init' again.");
      }
    } else if (st.isDirectory()) {
      throw new UserError(`refusing to write ${f.path}: a directory of that name exists.`);
    }
    existing.push(f.path);
  }
  if (existing.length && !force) {
    throw new UserError(
      `${existing.join(", ")} already exist${existing.length === 1 ? "s" : ""}; dwf init never overwrites files (nothing was written).`,
      "Run 'dwf init --dry-run' to see what it would write, or 'dwf init --force' to replace them.",
    );
  }
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Write via a temp file in the same folder and rename over the target (a symlink is replaced, not followed). */
export function writeAtomic(root: string, file: PlannedFile): string {
  const target = resolve(root, file.path);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = join(dirname(target), `.${file.path.split("/").pop()}.dwf-${randomBytes(6).toString("hex")}.tmp`);
  try {
    writeFileSync(tmp, file.content, { flag: "wx", mode: 0o644 });
    renameSync(tmp, target);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new UserError(`cannot write ${target}: ${(e as Error).message}`);
  }
  return target;
}
