// File times that survive a fresh checkout. A checkout gives every file the current time, so a
// build tool that judges freshness by mtime (some compilers do, for local crates and packages)
// would rebuild everything restored from the cache. The warm job records each tracked
// file's blob id and mtime next to the cache; a later job gives back the recorded mtime only to
// files whose content is the same blob, so unchanged sources look as old as the build that
// used them, and every changed file keeps its new time and is rebuilt. Content decides, never
// a clock: no stale output is ever taken for fresh.
import { lstatSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { writeCacheFile } from "../lib/safe-write.ts";
import { READ_CAPS, readOwnText } from "../lib/fs.ts";
import { UserError } from "../lib/errors.ts";

/** Below the cache root, in a folder of its own like every group dwf keeps there. */
const STAMP = join("ci", "mtimes.json");

interface Stamp {
  version: 1;
  files: Record<string, [blob: string, mtimeMs: number]>;
}

/** Tracked regular files and their blob ids, from the index (what the checkout wrote). */
function trackedBlobs(root: string): Map<string, string> {
  const r = Bun.spawnSync(["git", "ls-files", "-s", "-z"], { cwd: root, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0)
    throw new UserError(`cannot list the files git tracks in ${root}: ${r.stderr.toString().trim()}`, "Run this in a git checkout.");
  const out = new Map<string, string>();
  for (const entry of r.stdout.toString().split("\0")) {
    const m = /^(\d+) ([0-9a-f]+) \d\t(.+)$/s.exec(entry);
    // Regular files only: no symlinks (120000) or submodules (160000).
    if (m && (m[1] === "100644" || m[1] === "100755")) out.set(m[3]!, m[2]!);
  }
  return out;
}

export function saveMtimes(root: string, cacheRoot: string): number {
  const files: Stamp["files"] = {};
  for (const [path, blob] of trackedBlobs(root)) {
    try {
      files[path] = [blob, lstatSync(join(root, path)).mtimeMs];
    } catch {
      // Deleted in the working tree: nothing to record.
    }
  }
  writeCacheFile(cacheRoot, join(cacheRoot, STAMP), JSON.stringify({ version: 1, files } satisfies Stamp) + "\n");
  return Object.keys(files).length;
}

export function restoreMtimes(root: string, cacheRoot: string): { restored: number; changed: number; stamped: boolean } {
  let stamp: Stamp;
  try {
    stamp = JSON.parse(readOwnText(join(cacheRoot, STAMP), READ_CAPS.statCache) ?? "null") as Stamp;
    if (stamp.version !== 1 || typeof stamp.files !== "object") throw new Error("unknown format");
  } catch {
    return { restored: 0, changed: 0, stamped: false };
  }
  let restored = 0;
  let changed = 0;
  for (const [path, blob] of trackedBlobs(root)) {
    const known = stamp.files[path];
    if (!known || known[0] !== blob) {
      changed++;
      continue;
    }
    try {
      const t = new Date(known[1]);
      utimesSync(join(root, path), t, t);
      restored++;
    } catch {
      changed++;
    }
  }
  return { restored, changed, stamped: true };
}
