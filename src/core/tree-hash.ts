// Content hashes of the files a task can see: what git tracks plus untracked files git does
// not ignore (or a plain walk outside git). Stat data cached under the cache root skips re-reading.
import { lstatSync, readdirSync, readlinkSync, readFileSync, statSync, utimesSync } from "node:fs";
import { dirname, join, relative, resolve, sep, isAbsolute } from "node:path";

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
  /** Files read at once; small ones are read whole, large ones streamed. */
  batch?: number;
  /** Files whose inode changed this recently are re-read next time (default RACY_MS). */
  racyMs?: number;
}

const STAT_VERSION = 1;
const LARGE = 8 * 1024 * 1024;
/**
 * A file whose inode changed this recently could change again within the same timestamp tick
 * without its stat data moving, so its digest is not remembered (git's "racy" entries).
 */
const RACY_MS = 2000;

type StatRow = [size: number, mtimeMs: number, ino: number, ctimeMs: number, digest: string];

/** Stat data of a path the git listing depends on; just the path when it did not exist. */
type Stamp = [path: string, mtimeMs: number, ctimeMs: number, size: number, ino: number] | [path: string];

/** A remembered `git ls-files` answer and the stat data that proves it still holds. */
interface Listing {
  env: string;
  stamps: Stamp[];
  paths: string[];
}

interface StatCache {
  rows: Map<string, StatRow>;
  listing?: Listing;
}

/** Files under root that git would show (tracked + untracked-not-ignored), or null outside git. */
export async function gitVisibleFiles(root: string): Promise<string[] | null> {
  let proc: ReturnType<typeof Bun.spawn>;
  try {
    proc = Bun.spawn(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
      cwd: root,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "ignore",
      env: { ...process.env, GIT_OPTIONAL_LOCKS: "0" },
    });
  } catch {
    return null;
  }
  const [text, code] = await Promise.all([new Response(proc.stdout as ReadableStream).text(), proc.exited]);
  if (code !== 0) return null;
  const seen = new Set<string>();
  for (const p of text.split("\0")) if (p) seen.add(p);
  return [...seen];
}

// --- Remembering the git listing (the idea of git's untracked cache) ---
//
// `git ls-files` costs a process start and a walk of the tree on every run. Its answer can
// only change when the index, an ignore rule or a directory's entries change, so it is kept
// with the stat data of all of those and reused while every one of them is unchanged:
//  - the index, the .git file of a worktree, info/exclude, the repository's and the user's
//    git config files and the default global ignore file (<XDG config>/git/ignore);
//  - every directory git descends into (a file added, removed or renamed changes its
//    directory's mtime): those holding listed files, plus any other directory that is not
//    ignored (found by asking `git check-ignore`), all the way down;
//  - every .gitignore in those directories and in the ones between the worktree top and root.
// Blind spot: an excludes file named by `core.excludesFile` at a non-default path (or a
// config file pulled in with `include.path`) can change without any watched file changing;
// after editing such a file, the next run lists again once any watched file changes (a
// `git status` rewrites the index) or run with `--no-cache`. Runs with GIT_DIR, GIT_WORK_TREE,
// GIT_INDEX_FILE or GIT_COMMON_DIR set always ask git.

/** Directories walked to find the ones a listing depends on; a larger tree always asks git. */
const MAX_LISTING_DIRS = 20_000;

function stampOf(path: string): Stamp {
  const st = statSync(path, { throwIfNoEntry: false });
  return st ? [path, st.mtimeMs, st.ctimeMs, st.size, st.ino] : [path];
}

function sameStamp(a: Stamp, b: Stamp): boolean {
  return a.length === b.length && a[1] === b[1] && a[2] === b[2] && a[3] === b[3] && a[4] === b[4];
}

/**
 * What the listing depends on besides the files: where git's config and ignore files are, and
 * git's own variables. Undefined when git is pointed elsewhere, which this cache does not model.
 */
export function listingEnvKey(env: Record<string, string | undefined>, skip: string[] = []): string | undefined {
  if (env.GIT_DIR || env.GIT_WORK_TREE || env.GIT_INDEX_FILE || env.GIT_COMMON_DIR) return undefined;
  const git = Object.keys(env)
    .filter((k) => k.startsWith("GIT_") && k !== "GIT_OPTIONAL_LOCKS")
    .sort()
    .map((k) => [k, env[k]]);
  // The excluded directories decide which directories are watched.
  return JSON.stringify([env.HOME ?? "", env.XDG_CONFIG_HOME ?? "", git, skip]);
}

interface GitLayout {
  /** The worktree's top directory (root or one of its parents). */
  top: string;
  gitDir: string;
  commonDir: string;
  /** The `.git` file of a linked worktree or submodule. */
  gitFile?: string;
}

/** Finds the repository holding root the way git does (a `.git` directory or `gitdir:` file upwards). */
function gitLayout(root: string): GitLayout | undefined {
  for (let dir = root; ; dir = dirname(dir)) {
    const dotGit = join(dir, ".git");
    const st = lstatSync(dotGit, { throwIfNoEntry: false });
    if (st?.isDirectory()) return { top: dir, gitDir: dotGit, commonDir: dotGit };
    if (st?.isFile()) {
      const m = /^gitdir:\s*(.+?)\s*$/m.exec(readFileSync(dotGit, "utf8"));
      if (!m) return undefined;
      const gitDir = resolve(dir, m[1]!);
      let commonDir = gitDir;
      try {
        commonDir = resolve(gitDir, readFileSync(join(gitDir, "commondir"), "utf8").trim());
      } catch {}
      return { top: dir, gitDir, commonDir, gitFile: dotGit };
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** The files outside the tree's directories that the listing depends on. */
function fixedStampPaths(layout: GitLayout, root: string, env: Record<string, string | undefined>): string[] {
  const home = env.HOME ?? "";
  const xdg = env.XDG_CONFIG_HOME || (home && join(home, ".config"));
  const out = [join(layout.gitDir, "index"), join(layout.commonDir, "info", "exclude"), join(layout.commonDir, "config"), join(layout.gitDir, "config.worktree"), "/etc/gitconfig"];
  if (layout.gitFile) out.push(layout.gitFile);
  if (home) out.push(join(home, ".gitconfig"));
  if (xdg) out.push(join(xdg, "git", "config"), join(xdg, "git", "ignore"));
  // Ignore files between the worktree top and root apply to root's files too.
  if (root !== layout.top) {
    for (let dir = dirname(root); ; dir = dirname(dir)) {
      out.push(join(dir, ".gitignore"));
      if (dir === layout.top || dirname(dir) === dir) break;
    }
  }
  return out;
}

/** The remembered paths when nothing they depend on changed since; undefined otherwise. */
function reuseListing(listing: Listing | undefined, envKey: string | undefined): string[] | undefined {
  if (!listing || envKey === undefined || listing.env !== envKey) return undefined;
  for (const stamp of listing.stamps) if (!sameStamp(stamp, stampOf(stamp[0]))) return undefined;
  return listing.paths;
}

/** Paths git reports as ignored among the given ones (relative to root); null when git fails. */
async function gitIgnored(root: string, paths: string[]): Promise<Set<string> | null> {
  if (paths.length === 0) return new Set();
  try {
    const proc = Bun.spawn(["git", "check-ignore", "-z", "--stdin"], {
      cwd: root,
      stdin: new TextEncoder().encode(paths.join("\0") + "\0"),
      stdout: "pipe",
      stderr: "ignore",
      env: { ...process.env, GIT_OPTIONAL_LOCKS: "0" },
    });
    const [text, code] = await Promise.all([new Response(proc.stdout as ReadableStream).text(), proc.exited]);
    // 0: some are ignored, 1: none are.
    if (code !== 0 && code !== 1) return null;
    return new Set(text.split("\0").filter(Boolean));
  } catch {
    return null;
  }
}

/**
 * Every directory under root whose entries decide the listing (relative, "" = root): the ones
 * holding listed files, and every other directory git does not ignore. Null when there are too many.
 */
async function listingDirs(root: string, paths: string[], skip: string[]): Promise<Set<string> | null> {
  const listed = new Set(paths.map((p) => (p.endsWith("/") ? p.slice(0, -1) : p)));
  const dirs = new Set<string>([""]);
  for (const p of listed) {
    for (let i = p.lastIndexOf("/"); i > 0; i = p.lastIndexOf("/", i - 1)) {
      const d = p.slice(0, i);
      if (dirs.has(d)) break;
      dirs.add(d);
    }
  }
  const children = (dir: string): string[] | null => {
    let entries;
    try {
      entries = readdirSync(join(root, dir), { withFileTypes: true });
    } catch {
      return null;
    }
    const out: string[] = [];
    // Symlinks are not followed by git, so only real directories count.
    for (const e of entries) if (e.isDirectory() && e.name !== ".git") out.push(dir ? `${dir}/${e.name}` : e.name);
    return out;
  };
  const unknown: string[] = [];
  for (const d of dirs) {
    const subs = children(d);
    if (!subs) return null;
    for (const sub of subs) if (!dirs.has(sub) && !listed.has(sub) && !skip.some((s) => underPrefix(sub, s))) unknown.push(sub);
  }
  const ignored = await gitIgnored(root, unknown);
  if (!ignored) return null;
  // A directory git does descend into without listing anything there (empty, or only ignored
  // files so far): a file created anywhere below it must be seen, so all of it is watched.
  const queue = unknown.filter((u) => !ignored.has(u));
  while (queue.length) {
    const d = queue.pop()!;
    dirs.add(d);
    if (dirs.size > MAX_LISTING_DIRS) return null;
    const subs = children(d);
    if (!subs) return null;
    for (const sub of subs) if (!listed.has(sub) && !skip.some((s) => underPrefix(sub, s))) queue.push(sub);
  }
  return dirs;
}

/** Ask git for the listing and, when its inputs have settled, what it depends on. */
async function listAndRemember(root: string, skip: string[], envKey: string | undefined, racyMs: number): Promise<{ paths: string[] | null; listing?: Listing }> {
  const started = Date.now();
  const paths = await gitVisibleFiles(root);
  if (!paths || envKey === undefined) return { paths };
  let layout: GitLayout | undefined;
  try {
    layout = gitLayout(root);
  } catch {}
  if (!layout) return { paths };
  const kept = paths.filter((p) => !skip.some((s) => underPrefix(p, s)));
  const dirs = await listingDirs(root, kept, skip);
  if (!dirs) return { paths };
  const stamps = fixedStampPaths(layout, root, process.env).map(stampOf);
  for (const d of dirs) {
    stamps.push(stampOf(d ? join(root, d) : root));
    const ignoreFile = stampOf(join(root, d, ".gitignore"));
    // A .gitignore created later changes its directory's mtime; only existing ones are watched.
    if (ignoreFile.length > 1) stamps.push(ignoreFile);
  }
  // Anything changed while git was listing (or within the timestamp granularity before) may
  // be missing from the answer without its stat data telling: such a listing is not kept.
  const racyAfter = started - racyMs;
  if (stamps.some((s) => s.length > 1 && (s[1]! >= racyAfter || s[2]! >= racyAfter))) return { paths };
  return { paths, listing: { env: envKey, stamps, paths } };
}

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
      let st;
      try {
        st = lstatSync(abs);
      } catch {
        continue;
      }
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
    const rel = relative(root, abs);
    if (rel && !rel.startsWith("..") && !isAbsolute(rel)) out.push(rel.split(sep).join("/"));
  }
  return out;
}

export function underPrefix(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(prefix.endsWith("/") ? prefix : `${prefix}/`);
}

/** Stat cache file for one tree: one per root, so projects sharing a cache root never collide. */
export function statCachePath(cacheRoot: string, root: string): string {
  const id = new Bun.CryptoHasher("sha256").update(root).digest("hex").slice(0, 24);
  return join(cacheRoot, "tasks", "stat", `${id}.json`);
}

function loadStatCache(path: string, root: string): StatCache {
  try {
    const data = JSON.parse(readFileSync(path, "utf8")) as { version?: unknown; root?: unknown; files?: unknown; listing?: unknown };
    if (data.version !== STAT_VERSION || data.root !== root || typeof data.files !== "object" || data.files === null) return { rows: new Map() };
    const map = new Map<string, StatRow>();
    for (const [k, v] of Object.entries(data.files as Record<string, unknown>)) {
      if (Array.isArray(v) && v.length === 5 && typeof v[4] === "string") map.set(k, v as StatRow);
    }
    return { rows: map, listing: parseListing(data.listing) };
  } catch {
    return { rows: new Map() };
  }
}

function parseListing(v: unknown): Listing | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const l = v as Record<string, unknown>;
  if (typeof l.env !== "string" || !Array.isArray(l.stamps) || !Array.isArray(l.paths)) return undefined;
  if (!l.paths.every((p) => typeof p === "string")) return undefined;
  const okStamp = (s: unknown) => Array.isArray(s) && typeof s[0] === "string" && (s.length === 1 || (s.length === 5 && s.slice(1).every((n) => typeof n === "number")));
  if (!l.stamps.every(okStamp)) return undefined;
  return l as unknown as Listing;
}

async function saveStatCache(path: string, root: string, rows: Map<string, StatRow>, listing: Listing | undefined): Promise<void> {
  try {
    // Loaded only when something changed: its random-name helper costs ~2 ms to import.
    const { writeFileAtomic } = await import("./safe-write.ts");
    writeFileAtomic(path, JSON.stringify({ version: STAT_VERSION, root, files: Object.fromEntries(rows), ...(listing ? { listing } : {}) }));
  } catch {
    // A stat cache is only an accelerator: failing to write it must not fail the run.
  }
}

/** Prune ages the stat cache by last use, so an unchanged tree's cache is not taken for stale. */
function touch(path: string): void {
  try {
    const now = new Date();
    utimesSync(path, now, now);
  } catch {}
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
  const cached: StatCache = cachePath ? loadStatCache(cachePath, root) : { rows: new Map() };
  const previous = cached.rows;
  const envKey = listingEnvKey(process.env, skip);
  let gitList: string[] | null | undefined = cachePath ? reuseListing(cached.listing, envKey) : undefined;
  const listReused = gitList !== undefined;
  let listing = cached.listing;
  if (!listReused) {
    if (cachePath) ({ paths: gitList, listing } = await listAndRemember(root, skip, envKey, racyMs));
    else gitList = await gitVisibleFiles(root);
  }
  const paths = (gitList ?? walkFiles(root, exclude)).filter((p) => !skip.some((s) => underPrefix(p, s))).sort();
  const next = new Map<string, StatRow>();
  const files: FileDigests = new Map();
  const stats: TreeHashStats = { listed: paths.length, read: 0, reused: 0, bytesRead: 0, git: gitList != null, listReused };
  const racyAfter = Date.now() - racyMs;
  const toRead: { path: string; abs: string; size: number; mtimeMs: number; ino: number; ctimeMs: number; x: string }[] = [];

  for (const path of paths) {
    const abs = join(root, path);
    let st;
    try {
      st = lstatSync(abs);
    } catch {
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
      // A submodule or other special entry: its presence counts, its contents belong to it.
      files.set(path, st.isDirectory() ? "dir" : "special");
      continue;
    }
    const x = st.mode & 0o111 ? "x" : "-";
    const row = previous.get(path);
    if (row && row[0] === st.size && row[1] === st.mtimeMs && row[2] === st.ino && row[3] === st.ctimeMs) {
      files.set(path, x + row[4]);
      next.set(path, row);
      stats.reused++;
      continue;
    }
    toRead.push({ path, abs, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, ctimeMs: st.ctimeMs, x });
  }

  const batch = opts.batch ?? 64;
  // Imported only when a file must be read: an unchanged tree never needs it.
  const readFile = toRead.length ? (await import("node:fs/promises")).readFile : undefined;
  for (let i = 0; i < toRead.length; i += batch) {
    const slice = toRead.slice(i, i + batch);
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
      if (f.ctimeMs < racyAfter && f.mtimeMs < racyAfter) next.set(f.path, [f.size, f.mtimeMs, f.ino, f.ctimeMs, d]);
    });
  }

  const listingChanged = !listReused && (listing !== undefined || cached.listing !== undefined);
  if (cachePath && (stats.read > 0 || next.size !== previous.size || listingChanged)) await saveStatCache(cachePath, root, next, listing);
  else if (cachePath && previous.size > 0) touch(cachePath);
  // Sorted once here, so every task's digest is one ordered pass.
  const sorted: FileDigests = new Map(paths.filter((p) => files.has(p)).map((p) => [p, files.get(p)!]));
  return { files: sorted, stats };
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
  for (const [p, d] of files) {
    if (norm && !norm.some((pre) => underPrefix(p, pre))) continue;
    h.update(`${p}\0${d}\n`);
  }
  return h.digest("hex");
}
