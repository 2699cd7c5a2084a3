// Small filesystem helpers shared by the walkers (tree hash, cache prune, safe writes).
import { lstatSync, type Stats } from "node:fs";

/** lstat that answers null for a path that cannot be examined (gone, or unreadable). */
export function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}
