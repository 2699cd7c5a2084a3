// Content hashes of the files a task can see: what git tracks plus untracked files git does
// not ignore (or a plain walk outside git). Stat data cached under the cache root skips re-reading.
import { closeSync, constants, fstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from "node:fs";
import { isInside, lstatOrNull, READ_CAPS, readOwnText, touchNow } from "../lib/fs.ts";
import { dirname, join, relative, sep } from "node:path";
import { removeStaleTemps, writeCacheFile } from "../lib/safe-write.ts";
import { statCachePath } from "../core/cache-root.ts";
import { LONG_LOOP, expectLongWork } from "../lib/jit.ts";
import { gitVisibleFiles, listAndRemember, listingEnvKey, parseListing, reuseListing, underPrefix, type Listing } from "./git-listing.ts";

/** Per-file digest: `x`/`-` (executable bit) + SHA-256 hex, or a marker for links, dirs, missing files. */
export type FileDigests = Map<string, string>;

interface TreeHashStats {
  listed: number;
  read: number;
  reused: number;
  bytesRead: number;
  git: boolean;
  /** The file list came from the remembered git listing; no git process was started. */
  listReused: boolean;
  /** Of `read`, how many a second thread read. */
  readOnWorker?: number;
}

interface HashTreeOptions {
  /** Where the stat cache lives (`<cacheRoot>/tasks/stat/`); no stat cache when undefined. */
  cacheRoot?: string;
  /** Absolute directories never hashed (the cache root when it sits inside the tree). */
  exclude?: string[];
  /** Files whose inode changed this recently are re-read next time (default RACY_MS). */
  racyMs?: number;
  /** How many submodules deep this tree is (internal). */
  depth?: number;
  /** Read a large cold tree on a second thread too (default: when there is more than one core). */
  parallel?: boolean;
}

/** Submodules inside submodules are followed this deep. */
const MAX_SUBMODULE_DEPTH = 8;

const STAT_VERSION = 1;
/**
 * Files are read synchronously into one reused buffer: no promise and no allocation per file.
 * Measured on 10,000 small files, this halved the read phase against batched async reads
 * (bench/tree-hash.ts). After this many bytes the event loop gets a turn, so a run's live
 * output keeps flowing while a tree is re-hashed beside running tasks.
 */
const READ_CHUNK = 1024 * 1024;
const YIELD_BYTES = 8 * 1024 * 1024;
let readBuffer: Buffer | undefined;
/**
 * A file whose inode changed this recently could change again within the same timestamp tick
 * without its stat data moving, so its digest is not remembered (git's "racy" entries).
 */
const RACY_MS = 2000;

type StatRow = [size: number, mtimeMs: number, ino: number, ctimeMs: number, digest: string];

interface StatCache {
  /** Rows by path, as parsed: each row is checked where it is used. */
  rows: Record<string, unknown>;
  count: number;
  listing?: Listing;
}

const EMPTY: StatCache = { rows: {}, count: 0 };

/** Outside git: every file below root, skipping `.git` and excluded directories; symlinks are not followed. */
function walkFiles(root: string, exclude: string[] = []): string[] {
  const out: string[] = [];
  const skip = new Set(exclude);
  const visit = (dir: string, rel: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const abs = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      if (name === ".git" || skip.has(abs)) continue;
      const st = lstatOrNull(abs);
      if (!st) continue;
      if (st.isDirectory()) visit(abs, r);
      else out.push(r);
    }
  };
  visit(root, "");
  return out;
}

/** Project-relative prefixes of excluded absolute directories that sit inside root. */
function excludedPrefixes(root: string, exclude: string[]): string[] {
  const out: string[] = [];
  for (const abs of exclude) {
    if (abs !== root && isInside(root, abs)) out.push(relative(root, abs).split(sep).join("/"));
  }
  return out;
}

function loadStatCache(path: string, root: string): StatCache {
  const text = readOwnText(path, READ_CAPS.statCache);
  if (text === undefined) return EMPTY;
  try {
    const data = JSON.parse(text) as { version?: unknown; root?: unknown; files?: unknown; count?: unknown; listing?: unknown };
    if (
      data.version !== STAT_VERSION ||
      data.root !== root ||
      typeof data.files !== "object" ||
      data.files === null ||
      Array.isArray(data.files)
    )
      return EMPTY;
    const rows = data.files as Record<string, unknown>;
    const count = typeof data.count === "number" ? data.count : Object.keys(rows).length;
    return { rows, count, listing: parseListing(data.listing) };
  } catch {
    return EMPTY;
  }
}

/** The remembered row for a path, when it is one (a damaged row is just a file to read again). */
function rowOf(rows: Record<string, unknown>, path: string): StatRow | undefined {
  if (!Object.hasOwn(rows, path)) return undefined;
  const v = rows[path];
  return Array.isArray(v) && v.length === 5 && typeof v[4] === "string" ? (v as StatRow) : undefined;
}

function saveStatCache(cacheRoot: string, path: string, root: string, rows: Map<string, StatRow>, listing: Listing | undefined): void {
  try {
    // A run killed while writing leaves its temp file: the next write clears it.
    removeStaleTemps(dirname(path));
    writeCacheFile(
      cacheRoot,
      path,
      JSON.stringify({ version: STAT_VERSION, root, count: rows.size, files: Object.fromEntries(rows), ...(listing ? { listing } : {}) }),
    );
  } catch {
    // A stat cache is only an accelerator: failing to write it must not fail the run.
  }
}

/**
 * A regular file opened for reading, with its stat data from the open file; undefined (nothing
 * left open) for anything else: gone, a symlink (O_NOFOLLOW), a folder, a FIFO (never blocks).
 */
function openRegular(abs: string): { fd: number; st: Stats } | undefined {
  let fd: number;
  try {
    fd = openSync(abs, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (st.isFile()) return { fd, st };
  } catch {}
  closeSync(fd);
  return undefined;
}

/** SHA-256 hex of an open file's content (read to its end, whatever its size said); closes it. Null when a read fails. */
function digestOpen(fd: number): string | null {
  try {
    const buf = (readBuffer ??= Buffer.allocUnsafe(READ_CHUNK));
    const hasher = new Bun.CryptoHasher("sha256");
    let n: number;
    while ((n = readSync(fd, buf, 0, READ_CHUNK, null)) > 0) hasher.update(buf.subarray(0, n));
    return hasher.digest("hex");
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** SHA-256 hex of a regular file, or null when it is gone or no longer a regular file. */
function hashContent(abs: string): string | null {
  const opened = openRegular(abs);
  return opened ? digestOpen(opened.fd) : null;
}

/**
 * A cold tree (thousands of files with nothing remembered) is read on two threads: a worker
 * takes every other file of those, this thread the rest, the same way (open without following
 * links or blocking, fstat, read into one buffer, SHA-256). Below this many files a worker's
 * start (~10 ms) costs more than it saves.
 */
const PARALLEL_MIN = 2000;
/** Per path: [hex digest, size, mtimeMs, ino, ctimeMs, mode], or null when it is not a readable regular file. */
type WorkerRow = [string, number, number, number, number, number] | null;
const WORKER_SOURCE = `
const { openSync, fstatSync, readSync, closeSync, constants } = require("node:fs");
const FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW || 0) | (constants.O_NONBLOCK || 0);
const buf = Buffer.allocUnsafe(${READ_CHUNK});
self.onmessage = (e) => {
  const out = [];
  for (const abs of e.data) {
    let fd;
    try { fd = openSync(abs, FLAGS); } catch { out.push(null); continue; }
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || st.size > ${YIELD_BYTES}) { out.push(null); continue; }
      const h = new Bun.CryptoHasher("sha256");
      let n;
      while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
      out.push([h.digest("hex"), st.size, st.mtimeMs, st.ino, st.ctimeMs, st.mode]);
    } catch { out.push(null); } finally { closeSync(fd); }
  }
  postMessage(out);
};`;
let workerUrl: string | undefined;

/** Hash these files on a worker thread; undefined when no worker can be started (the caller reads them itself). */
function hashOnWorker(paths: string[]): Promise<WorkerRow[]> | undefined {
  let worker: Worker;
  try {
    workerUrl ??= URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "application/javascript" }));
    worker = new Worker(workerUrl);
  } catch {
    return undefined;
  }
  return new Promise<WorkerRow[]>((resolve) => {
    worker.onmessage = (e: MessageEvent<WorkerRow[]>) => resolve(e.data);
    // A worker that fails leaves every one of its files to this thread.
    worker.onerror = () => resolve(paths.map(() => null));
    worker.postMessage(paths);
  }).finally(() => worker.terminate());
}

async function hashLarge(abs: string): Promise<string | null> {
  if (!lstatOrNull(abs)?.isFile()) return null;
  try {
    const hasher = new Bun.CryptoHasher("sha256");
    for await (const chunk of Bun.file(abs).stream()) hasher.update(chunk);
    return hasher.digest("hex");
  } catch {
    return null;
  }
}

/** Digest of every visible file under root, reusing stat-cached digests of unchanged files. */
export async function hashTree(root: string, opts: HashTreeOptions = {}): Promise<{ files: FileDigests; stats: TreeHashStats }> {
  const exclude = opts.exclude ?? [];
  const racyMs = opts.racyMs ?? RACY_MS;
  const skip = excludedPrefixes(root, exclude);
  const cachePath = opts.cacheRoot ? statCachePath(opts.cacheRoot, root) : undefined;
  const cached: StatCache = cachePath ? loadStatCache(cachePath, root) : EMPTY;
  const previous = cached.rows;
  const envKey = listingEnvKey(process.env, skip);
  let gitList: string[] | null | undefined = cachePath ? reuseListing(cached.listing, envKey, root) : undefined;
  const listReused = gitList !== undefined;
  let listing = cached.listing;
  if (!listReused) {
    if (cachePath) ({ paths: gitList, listing } = await listAndRemember(root, skip, envKey, racyMs));
    else gitList = await gitVisibleFiles(root);
  }
  const paths = (gitList ?? walkFiles(root, exclude)).filter((p) => !skip.some((s) => underPrefix(p, s))).sort();
  if (paths.length > LONG_LOOP) expectLongWork();
  // Files go in in sorted order (a file still to be read holds its place until it is), so every
  // task's digest is one ordered pass.
  const files: FileDigests = new Map();
  /** Remembered rows still valid; only turned into the next stat cache when one must be written. */
  const kept: [string, StatRow][] = [];
  const fresh: [string, StatRow][] = [];
  const stats: TreeHashStats = { listed: paths.length, read: 0, reused: 0, bytesRead: 0, git: gitList != null, listReused };
  const racyAfter = Date.now() - racyMs;
  const toRead: { path: string; abs: string; size: number; mtimeMs: number; ino: number; ctimeMs: number; x: string }[] = [];
  const submodules: string[] = [];

  // Listed paths are relative and `/`-separated: plain concatenation, no per-file normalising.
  const base = root.endsWith(sep) ? root : root + sep;
  // A cold tree: every other file without a remembered row goes to a worker thread.
  let offloaded: { paths: Set<string>; rows: Promise<WorkerRow[]>; list: string[] } | undefined;
  // (A stat cache that covers the tree — the warm case — is not even looked through for it.)
  if (paths.length - cached.count >= PARALLEL_MIN && (opts.parallel ?? navigator.hardwareConcurrency > 1)) {
    const unknown = paths.filter((p) => !rowOf(previous, p));
    if (unknown.length >= PARALLEL_MIN) {
      const list = unknown.filter((_, i) => i % 2 === 1);
      const rows = hashOnWorker(list.map((p) => base + p));
      if (rows) offloaded = { paths: new Set(list), rows, list };
    }
  }
  // The event loop gets a turn after every YIELD_BYTES read, so live output keeps flowing.
  let sinceYield = 0;
  const yieldNow = () => {
    sinceYield = 0;
    return new Promise<void>((r) => setImmediate(r));
  };
  /** Files the worker could not take (not regular files, too big, unreadable): classified here after all. */
  const again: string[] = [];
  /** One listed path, in order; returns how many bytes it read (for the event loop's turns). */
  const visit = (path: string): number => {
    const abs = base + path;
    const row = rowOf(previous, path);
    if (!row) {
      // Nothing remembered (a first run, a new file): it is read anyway, so open it straight
      // away and take its stat data from the open file — one path lookup instead of two.
      const opened = openRegular(abs);
      if (opened) {
        const { fd, st } = opened;
        const x = st.mode & 0o111 ? "x" : "-";
        if (st.size > YIELD_BYTES) {
          closeSync(fd);
          files.set(path, "unreadable");
          toRead.push({ path, abs, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, ctimeMs: st.ctimeMs, x });
          return 0;
        }
        const d = digestOpen(fd);
        if (d === null) {
          files.set(path, "unreadable");
          return 0;
        }
        files.set(path, x + d);
        stats.read++;
        stats.bytesRead += st.size;
        if (st.ctimeMs < racyAfter && st.mtimeMs < racyAfter) fresh.push([path, [st.size, st.mtimeMs, st.ino, st.ctimeMs, d]]);
        return st.size;
      }
      // Not a regular file (or gone): told apart below.
    }
    const st = lstatOrNull(abs);
    if (!st) {
      files.set(path, "missing");
      return 0;
    }
    if (st.isSymbolicLink()) {
      let target = "";
      try {
        target = readlinkSync(abs);
      } catch {}
      files.set(path, `link:${target}`);
      return 0;
    }
    if (!st.isFile()) {
      // A checked-out submodule counts by everything its task can see there: its commit's
      // files and any uncommitted change, hashed like a tree of its own (nested ones too).
      if (st.isDirectory() && lstatOrNull(join(abs, ".git"))) submodules.push(path);
      files.set(path, st.isDirectory() ? "dir" : "special");
      return 0;
    }
    const x = st.mode & 0o111 ? "x" : "-";
    if (row && row[0] === st.size && row[1] === st.mtimeMs && row[2] === st.ino && row[3] === st.ctimeMs) {
      files.set(path, x + row[4]);
      kept.push([path, row]);
      stats.reused++;
      return 0;
    }
    files.set(path, "unreadable");
    toRead.push({ path, abs, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, ctimeMs: st.ctimeMs, x });
    return 0;
  };
  for (const path of paths) {
    if (offloaded?.paths.has(path)) {
      // Holds its place in the sorted order until the worker's digest comes in.
      files.set(path, "unreadable");
      continue;
    }
    if ((sinceYield += visit(path)) >= YIELD_BYTES) await yieldNow();
  }
  if (offloaded) {
    const rows = await offloaded.rows;
    offloaded.list.forEach((path, i) => {
      const r = rows[i];
      if (!r) return void again.push(path);
      const [d, size, mtimeMs, ino, ctimeMs, mode] = r;
      files.set(path, (mode & 0o111 ? "x" : "-") + d);
      stats.read++;
      stats.readOnWorker = (stats.readOnWorker ?? 0) + 1;
      stats.bytesRead += size;
      if (ctimeMs < racyAfter && mtimeMs < racyAfter) fresh.push([path, [size, mtimeMs, ino, ctimeMs, d]]);
    });
    for (const path of again) if ((sinceYield += visit(path)) >= YIELD_BYTES) await yieldNow();
  }

  for (const f of toRead) {
    // A big file is streamed: reading it in one go would hold up everything else for as long.
    const d = f.size > YIELD_BYTES ? await hashLarge(f.abs) : hashContent(f.abs);
    if (d === null) {
      files.set(f.path, "unreadable");
      continue;
    }
    files.set(f.path, f.x + d);
    stats.read++;
    stats.bytesRead += f.size;
    if (f.ctimeMs < racyAfter && f.mtimeMs < racyAfter) fresh.push([f.path, [f.size, f.mtimeMs, f.ino, f.ctimeMs, d]]);
    if ((sinceYield += f.size) >= YIELD_BYTES) await yieldNow();
  }

  const depth = opts.depth ?? 0;
  for (const path of submodules) {
    if (depth >= MAX_SUBMODULE_DEPTH) {
      files.set(path, "submodule:too-deep");
      continue;
    }
    try {
      const sub = await hashTree(base + path, { ...opts, exclude, depth: depth + 1 });
      files.set(path, `submodule:${treeDigest(sub.files)}`);
      stats.listed += sub.stats.listed;
      stats.read += sub.stats.read;
      stats.reused += sub.stats.reused;
      stats.bytesRead += sub.stats.bytesRead;
    } catch {
      files.set(path, "submodule:unreadable");
    }
  }

  const listingChanged = !listReused && (listing !== undefined || cached.listing !== undefined);
  if (cachePath && (stats.read > 0 || kept.length + fresh.length !== cached.count || listingChanged)) {
    saveStatCache(opts.cacheRoot!, cachePath, root, new Map([...kept, ...fresh]), listing);
  } else if (cachePath && cached.count > 0) touchNow(cachePath); // pruned by last use, like entries
  return { files, stats };
}

/** Normalise extension-given input prefixes: relative, `/`-separated, no `./` or trailing slash. */
function normalisePrefixes(prefixes: string[]): string[] {
  return prefixes
    .map((p) =>
      p
        .split(/[\\/]+/)
        .filter((s) => s !== "" && s !== ".")
        .join("/"),
    )
    .filter((p) => p !== "" && !p.split("/").includes(".."));
}

/** One digest over the files a task sees (all, or those under the prefixes); `files` is in sorted order. */
export function treeDigest(files: FileDigests, prefixes?: string[]): string {
  const h = new Bun.CryptoHasher("sha256");
  h.update("dwf-tree-v1\n");
  const norm = prefixes ? normalisePrefixes(prefixes) : undefined;
  // The same bytes as one update per file, handed over in batches: one native call per file
  // cost more than hashing the text.
  let batch = "";
  let n = 0;
  for (const [p, d] of files) {
    if (norm && !norm.some((pre) => underPrefix(p, pre))) continue;
    batch += `${p}\0${d}\n`;
    if (++n === 512) {
      h.update(batch);
      batch = "";
      n = 0;
    }
  }
  if (batch) h.update(batch);
  return h.digest("hex");
}
