// Small filesystem helpers shared by the walkers (tree hash, cache prune, safe writes), and the
// one way dwf reads a file it keeps (cache entries, stat cache, memos, tags): never blocking.
import { closeSync, constants, fstatSync, lstatSync, openSync, lutimesSync, readSync, realpathSync, statSync, type Stats } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";

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

/** The real path of `p`, symlinks followed, also for a path that does not exist yet (its nearest existing ancestor's real path, plus the rest). */
export function realPathOf(p: string): string {
  const rest: string[] = [];
  let dir = resolve(p);
  for (;;) {
    try {
      return rest.length ? join(realpathSync(dir), ...rest.reverse()) : realpathSync(dir);
    } catch {
      const up = dirname(dir);
      if (up === dir) return resolve(p);
      rest.push(basename(dir));
      dir = up;
    }
  }
}

/** Mark a file as used now (caches are pruned by last use); a file that is gone is no error. A symlink's target is never touched. */
export function touchNow(path: string): void {
  const now = Date.now() / 1000;
  try {
    lutimesSync(path, now, now);
  } catch {}
}

/** Why readOwnFile gave no text (for debug logs): the file is absent, or is not one dwf wrote. */
type RefusedRead = "missing" | "not-a-file" | "too-large" | "unreadable";

interface OwnRead {
  text?: string;
  /** The bytes instead of text, when asked for (`binary`). */
  bytes?: Uint8Array;
  refused?: RefusedRead;
}

// O_NOFOLLOW and O_NONBLOCK are Linux/macOS flags; where a platform lacks one it is 0 and the
// lstat/fstat checks below still refuse what the flag would have.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOFOLLOW ?? 0);

/**
 * Read a file dwf itself writes (task cache entry, stat cache, config memo, CACHEDIR.TAG) such
 * that nothing put in its place can hang or exhaust dwf: a symlink, FIFO, socket or device is
 * refused before it is opened (lstat, then an O_NONBLOCK|O_NOFOLLOW open whose fstat must be
 * the same regular file), and at most `maxBytes` are read (a larger file is refused, also one
 * that grows while read). Reads of a regular file never wait on another process, so a signal
 * is handled as soon as the read returns.
 */
export function readOwnFile(path: string, maxBytes: number, opts: { followSymlinks?: boolean; binary?: boolean } = {}): OwnRead {
  let st: Stats;
  try {
    st = opts.followSymlinks ? statSync(path) : lstatSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { refused: code === "ENOENT" || code === "ENOTDIR" ? "missing" : "unreadable" };
  }
  if (!st.isFile()) return { refused: "not-a-file" };
  if (st.size > maxBytes) return { refused: "too-large" };
  let fd: number;
  try {
    fd = openSync(path, opts.followSymlinks ? OPEN_FLAGS & ~(constants.O_NOFOLLOW ?? 0) : OPEN_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // ELOOP: swapped for a symlink between the lstat and the open.
    return { refused: code === "ENOENT" ? "missing" : code === "ELOOP" ? "not-a-file" : "unreadable" };
  }
  try {
    const now = fstatSync(fd);
    if (!now.isFile() || now.ino !== st.ino || now.dev !== st.dev) return { refused: "not-a-file" };
    if (now.size > maxBytes) return { refused: "too-large" };
    // One byte more than allowed tells a file that grew past the cap from one that fits exactly.
    const buf = Buffer.allocUnsafe(Math.min(maxBytes, Math.max(now.size, 4096)) + 1);
    let total = 0;
    for (;;) {
      if (total === buf.length) return { refused: "too-large" };
      const n = readSync(fd, buf, total, buf.length - total, null);
      if (n === 0) break;
      total += n;
      if (total > maxBytes) return { refused: "too-large" };
    }
    return opts.binary ? { bytes: buf.subarray(0, total) } : { text: buf.toString("utf8", 0, total) };
  } catch {
    return { refused: "unreadable" };
  } finally {
    closeSync(fd);
  }
}

/** readOwnFile's text, or undefined for anything it refuses. */
export function readOwnText(path: string, maxBytes: number): string | undefined {
  return readOwnFile(path, maxBytes).text;
}

/** Caps for the files dwf keeps: far above anything dwf writes, far below what could exhaust it. */
export const READ_CAPS = {
  /** One task's stored result (its output is capped at 8 MiB before JSON escaping). */
  entry: 64 * 1024 * 1024,
  /** A task's declared outputs kept beside its result (gzipped tar; written only up to a lower cap). */
  outputs: 256 * 1024 * 1024,
  /** A tree's stat cache and remembered git listing (~100 bytes per file). */
  statCache: 256 * 1024 * 1024,
  /** The remembered validated devflow.toml. */
  configMemo: 8 * 1024 * 1024,
  /** What dwf remembers about one image (tools found in it). */
  imageState: 1024 * 1024,
  /** A Dockerfile read for its COPY sources. */
  dockerfile: 16 * 1024 * 1024,
  /** CACHEDIR.TAG, `.git` files, commondir. */
  small: 64 * 1024,
} as const;
