// Writing generated files without losing user work or escaping the project: every target
// must resolve inside the project (no symlinked folder or file leading out of it), and
// files are replaced atomically (temp file in the same folder + rename).
import { mkdirSync, readdirSync, realpathSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { isInside, lstatOrNull, realPathOf } from "./fs.ts";
import { dirname, join, resolve, basename } from "node:path";
import { UserError } from "./errors.ts";

/**
 * Throws unless `target` (absolute, or relative to root) may be written: inside the project,
 * its existing parent folders resolving inside too, and not a symlink leading out or a folder.
 * Returns whether a file already exists there.
 */
export function checkInsideProject(root: string, target: string, display = target): boolean {
  const abs = resolve(root, target);
  const realRoot = realpathSync(root);
  if (!isInside(root, abs))
    throw new UserError(
      `refusing to write ${display}: it is outside the project ${root}.`,
      "Write inside the project, or use --stdout and redirect.",
    );
  let parent = dirname(abs);
  while (!lstatOrNull(parent)) parent = dirname(parent);
  if (!isInside(realRoot, realpathSync(parent)))
    throw new UserError(`refusing to write ${display}: its folder leads outside the project through a symlink.`);
  const st = lstatOrNull(abs);
  if (!st) return false;
  if (st.isSymbolicLink()) {
    let real: string | null = null;
    try {
      real = realpathSync(abs);
    } catch {
      /* dangling */
    }
    if (real === null || !isInside(realRoot, real)) {
      throw new UserError(
        `refusing to write ${display}: it is a symlink pointing outside the project (${real ?? "dangling"}).`,
        "Remove the link and try again.",
      );
    }
  } else if (st.isDirectory()) {
    throw new UserError(`refusing to write ${display}: a directory of that name exists.`);
  }
  return true;
}

/** 12 hex digits; Web Crypto, because importing node:crypto costs ~2 ms of a run. */
function randomSuffix(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Write via a temp file in the same folder and rename over the target (a symlink is replaced, not followed). */
export function writeFileAtomic(path: string, text: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.dwf-${randomSuffix()}.tmp`);
  try {
    writeFileSync(tmp, text, { flag: "wx", mode: 0o644 });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new UserError(`cannot write ${path}: ${(e as Error).message}`);
  }
}

const TEMP_NAME = /^\..+\.dwf-[0-9a-f]{12}\.tmp$/;
/** A temp file this old is no write in progress (those take milliseconds) but one a kill -9 cut short. */
const STALE_TEMP_MS = 60_000;

/** Remove temp files writeFileAtomic left in `dir` when its process was killed mid-write. */
export function removeStaleTemps(dir: string, now = Date.now()): number {
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (!TEMP_NAME.test(name)) continue;
    const path = join(dir, name);
    const st = lstatOrNull(path);
    if (!st || !st.isFile() || now - st.mtimeMs < STALE_TEMP_MS) continue;
    try {
      rmSync(path, { force: true });
      removed++;
    } catch {}
  }
  return removed;
}

/**
 * Write a file below the cache root atomically, after checking that its folder, symlinks
 * followed, is inside the cache root (a task that can write the cache root, e.g. through
 * /workspace, could otherwise point `tasks/ab` at any host folder).
 */
export function writeCacheFile(cacheRoot: string, path: string, text: string | Uint8Array): void {
  const realRoot = realPathOf(cacheRoot);
  const check = () => {
    const realDir = realPathOf(dirname(path));
    if (!isInside(realRoot, realDir)) {
      throw new UserError(
        `refusing to write ${path}: its folder leads outside the cache root ${cacheRoot} (to ${realDir}) through a symlink.`,
        `Remove the symlink (a task may have made it) and run again.`,
      );
    }
  };
  // Before creating missing folders (none is made outside) and after (nothing swapped meanwhile).
  check();
  mkdirSync(dirname(path), { recursive: true });
  check();
  writeFileAtomic(path, text);
}
