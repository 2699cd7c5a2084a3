// What git would show of a tree (tracked + untracked-not-ignored), and a remembered answer
// that is reused while nothing it depends on has changed (the idea of git's untracked cache).
import { lstatSync, readdirSync, statSync } from "node:fs";
import { READ_CAPS, readOwnText } from "../lib/fs.ts";
import { dirname, join, resolve } from "node:path";

/** Whether a `/`-separated project path is the prefix or lies below it. */
export function underPrefix(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(prefix.endsWith("/") ? prefix : `${prefix}/`);
}

/** Stat data of a path the git listing depends on; just the path when it did not exist. */
type Stamp = [path: string, mtimeMs: number, ctimeMs: number, size: number, ino: number] | [path: string];

/** Stat data without its path; empty when the file did not exist. */
type StampData = [mtimeMs: number, ctimeMs: number, size: number, ino: number] | [];

/** A remembered `git ls-files` answer and the stat data that proves it still holds. */
export interface Listing {
  /** SHA-256 of what the listing depends on in the environment (listingEnvKey); never the values. */
  env: string;
  /**
   * Stat data of git's config and ignore files outside the tree (fixedStampPaths order), without
   * their paths: those follow from HOME and XDG_CONFIG_HOME, which are not written down, and are
   * worked out again when the listing is reused.
   */
  fixed: StampData[];
  /** Directories and .gitignore files under the root. */
  stamps: Stamp[];
  paths: string[];
}

/** A git helper that has not answered by then is stopped (and its answer done without). */
const GIT_TIMEOUT_MS = 120_000;

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
  // A git that hangs (a stale lock, a network file system) must not hang the run: the tree is walked instead.
  const timer = setTimeout(() => proc.kill("SIGKILL"), GIT_TIMEOUT_MS);
  const [text, code] = await Promise.all([new Response(proc.stdout as ReadableStream).text(), proc.exited]);
  clearTimeout(timer);
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

function sameData(a: StampData, b: StampData): boolean {
  return a.length === b.length && a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];
}

function dataOf(path: string): StampData {
  const s = stampOf(path);
  return s.length > 1 ? [s[1]!, s[2]!, s[3]!, s[4]!] : [];
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
  // The excluded directories decide which directories are watched. Only a hash is kept: the
  // stat cache is a file on disk (uploaded by CI's cache step), and GIT_* variables can hold
  // credentials (GIT_CONFIG_VALUE_0=Authorization: …, tokens for askpass helpers).
  return Bun.CryptoHasher.hash(
    "sha256",
    JSON.stringify(["dwf-git-listing-env-v1", env.HOME ?? "", env.XDG_CONFIG_HOME ?? "", git, skip]),
    "hex",
  );
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
      const m = /^gitdir:\s*(.+?)\s*$/m.exec(readOwnText(dotGit, READ_CAPS.small) ?? "");
      if (!m) return undefined;
      const gitDir = resolve(dir, m[1]!);
      const common = readOwnText(join(gitDir, "commondir"), READ_CAPS.small);
      const commonDir = common === undefined ? gitDir : resolve(gitDir, common.trim());
      return { top: dir, gitDir, commonDir, gitFile: dotGit };
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** The files outside the tree's directories that the listing depends on. */
function fixedStampPaths(layout: GitLayout, root: string, env: Record<string, string | undefined>): string[] {
  const home = env.HOME ?? "";
  const xdg = env.XDG_CONFIG_HOME || (home && join(home, ".config"));
  const out = [
    join(layout.gitDir, "index"),
    join(layout.commonDir, "info", "exclude"),
    join(layout.commonDir, "config"),
    join(layout.gitDir, "config.worktree"),
    "/etc/gitconfig",
  ];
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
export function reuseListing(
  listing: Listing | undefined,
  envKey: string | undefined,
  root: string,
  env: Record<string, string | undefined> = process.env,
): string[] | undefined {
  if (!listing || envKey === undefined || listing.env !== envKey) return undefined;
  let layout: GitLayout | undefined;
  try {
    layout = gitLayout(root);
  } catch {}
  if (!layout) return undefined;
  const fixed = fixedStampPaths(layout, root, env);
  if (fixed.length !== listing.fixed.length) return undefined;
  for (let i = 0; i < fixed.length; i++) if (!sameData(listing.fixed[i]!, dataOf(fixed[i]!))) return undefined;
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
    const timer = setTimeout(() => proc.kill("SIGKILL"), GIT_TIMEOUT_MS);
    const [text, code] = await Promise.all([new Response(proc.stdout as ReadableStream).text(), proc.exited]);
    clearTimeout(timer);
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
export async function listAndRemember(
  root: string,
  skip: string[],
  envKey: string | undefined,
  racyMs: number,
): Promise<{ paths: string[] | null; listing?: Listing }> {
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
  const fixed = fixedStampPaths(layout, root, process.env).map(dataOf);
  const stamps: Stamp[] = [];
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
  if (fixed.some((s) => s.length > 0 && (s[0]! >= racyAfter || s[1]! >= racyAfter))) return { paths };
  return { paths, listing: { env: envKey, fixed, stamps, paths } };
}

export function parseListing(v: unknown): Listing | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const l = v as Record<string, unknown>;
  if (typeof l.env !== "string" || !Array.isArray(l.fixed) || !Array.isArray(l.stamps) || !Array.isArray(l.paths)) return undefined;
  if (!l.fixed.every((f) => Array.isArray(f) && (f.length === 0 || (f.length === 4 && f.every((n) => typeof n === "number")))))
    return undefined;
  if (!l.paths.every((p) => typeof p === "string")) return undefined;
  const okStamp = (s: unknown) =>
    Array.isArray(s) && typeof s[0] === "string" && (s.length === 1 || (s.length === 5 && s.slice(1).every((n) => typeof n === "number")));
  if (!l.stamps.every(okStamp)) return undefined;
  return l as unknown as Listing;
}
