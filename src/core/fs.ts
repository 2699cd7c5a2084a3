// Small filesystem helpers shared by the walkers (tree hash, cache prune, safe writes).
import { lstatSync, lutimesSync, type Stats } from "node:fs";
import { isAbsolute, relative, sep } from "node:path";

/** lstat that answers null for a path that cannot be examined (gone, or unreadable). */
export function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

/** Whether `path` is `root` or lies below it (lexically: symlinks are the caller's business). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/** Mark a file as used now (caches are pruned by last use); a file that is gone is no error. A symlink's target is never touched. */
export function touchNow(path: string): void {
  const now = Date.now() / 1000;
  try {
    lutimesSync(path, now, now);
  } catch {}
}
