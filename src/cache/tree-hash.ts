// Content hashes of the files a task can see: what git tracks plus untracked files git does
// not ignore (or a plain walk outside git). Stat data cached under the cache root skips re-reading.
import { readdirSync, readlinkSync } from "node:fs";
import { isInside, lstatOrNull, READ_CAPS, readOwnText, touchNow } from "../lib/fs.ts";
import { dirname, join, relative, sep } from "node:path";
import { removeStaleTemps, writeCacheFile } from "../lib/safe-write.ts";
import { statCachePath } from "../core/cache-root.ts";
import { LONG_LOOP, expectLongWork } from "../lib/jit.ts";
import { gitVisibleFiles, listAndRemember, listingEnvKey, parseListing, reuseListing, underPrefix, type Listing } from "./git-listing.ts";

/** Per-file digest: `x`/`-` (executable bit) + SHA-256 hex, or a marker for links, dirs, missing files. */
export type FileDigests = Map<string, string>;

export interface TreeHashStats {
  listed: number;
  read: number;
  reused: number;
  bytesRead: number;
  git: boolean;
  /** The file list came from the remembered git listing; no git process was started. */
  listReused: boolean;
}

export interface HashTreeOptions {
  /** Where the stat cache lives (`<cacheRoot>/tasks/stat/`); no stat cache when undefined. */
  cacheRoot?: string;
  /** Absolute directories never hashed (the cache root when it sits inside the tree). */
  exclude?: string[];
  /** Files whose inode changed this recently are re-read next time (default RACY_MS). */
  racyMs?: number;
  /** How many submodules deep this tree is (internal). */
  depth?: number;
}

/** Submodules inside submodules are followed this deep. */
const MAX_SUBMODULE_DEPTH = 8;

const STAT_VERSION = 1;
const LARGE = 8 * 1024 * 1024;
/** Files read at once; small ones are read whole, large ones streamed. */
const BATCH = 64;
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
export function walkFiles(root: string, exclude: string[] = []): string[] {
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
    if (data.version !== STAT_VERSION || data.root !== root || typeof data.files !== "object" || data.files === null || Array.isArray(data.files)) return EMPTY;
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
    writeCacheFile(cacheRoot, path, JSON.stringify({ version: STAT_VERSION, root, count: rows.size, files: Object.fromEntries(rows), ...(listing ? { listing } : {}) }));
  } catch {
    // A stat cache is only an accelerator: failing to write it must not fail the run.
  }
}

async function hashContent(abs: string, size: number, readFile: (path: string) => Promise<Uint8Array>): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  if (size > LARGE) {
    for await (const chunk of Bun.file(abs).stream()) hasher.update(chunk);
  } else {
    hasher.update(await readFile(abs));
  }
  return hasher.digest("hex");
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
  for (const path of paths) {
    const abs = base + path;
    const st = lstatOrNull(abs);
    if (!st) {
      files.set(path, "missing");
      continue;
    }
    if (st.isSymbolicLink()) {
      let target = "";
      try {
        target = readlinkSync(abs);
      } catch {}
      files.set(path, `link:${target}`);
      continue;
    }
    if (!st.isFile()) {
      // A checked-out submodule counts by everything its task can see there: its commit's
      // files and any uncommitted change, hashed like a tree of its own (nested ones too).
      if (st.isDirectory() && lstatOrNull(join(abs, ".git"))) submodules.push(path);
      files.set(path, st.isDirectory() ? "dir" : "special");
      continue;
    }
    const x = st.mode & 0o111 ? "x" : "-";
    const row = rowOf(previous, path);
    if (row && row[0] === st.size && row[1] === st.mtimeMs && row[2] === st.ino && row[3] === st.ctimeMs) {
      files.set(path, x + row[4]);
      kept.push([path, row]);
      stats.reused++;
      continue;
    }
    files.set(path, "unreadable");
    toRead.push({ path, abs, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, ctimeMs: st.ctimeMs, x });
  }

  // Imported only when a file must be read: an unchanged tree never needs it.
  const readFile = toRead.length ? (await import("node:fs/promises")).readFile : undefined;
  for (let i = 0; i < toRead.length; i += BATCH) {
    const slice = toRead.slice(i, i + BATCH);
    const digests = await Promise.all(slice.map((f) => hashContent(f.abs, f.size, readFile!).catch(() => null)));
    slice.forEach((f, j) => {
      const d = digests[j];
      if (d == null) {
        files.set(f.path, "unreadable");
        return;
      }
      files.set(f.path, f.x + d);
      stats.read++;
      stats.bytesRead += f.size;
      if (f.ctimeMs < racyAfter && f.mtimeMs < racyAfter) fresh.push([f.path, [f.size, f.mtimeMs, f.ino, f.ctimeMs, d]]);
    });
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
export function normalisePrefixes(prefixes: string[]): string[] {
  return prefixes
    .map((p) => p.split(/[\\/]+/).filter((s) => s !== "" && s !== ".").join("/"))
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
