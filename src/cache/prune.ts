// What `dwf cache info` shows and `dwf cache prune` removes: a bounded, symlink-safe scan of the
// cache root, a pure plan over plain data, and an apply step that never leaves the root.
import { lstatSync, readdirSync, realpathSync, rmdirSync, unlinkSync } from "node:fs";
import { isInside, lstatOrNull } from "../lib/fs.ts";
import { dirname, join, resolve } from "node:path";
import { CACHE_GROUP, CACHE_ROOT_MARKERS, CACHEDIR_TAG, DWF_TEMP, inspectCacheRoot, trackedFiles } from "../core/cache-root.ts";
import { TASKS_DIR } from "./entries.ts";
import { UserError } from "../lib/errors.ts";

export { TAG_SIGNATURE } from "../core/cache-root.ts";
/** Entries visited per directory before giving up on an exact size (then it counts as in use). */
const WALK_LIMIT = 200_000;

export interface CacheItem {
  /** Path relative to the cache root, `/`-separated. */
  rel: string;
  kind: "task" | "stat" | "dir" | "file";
  /** Top-level directory it belongs to (the extension name, or `tasks`). */
  group: string;
  bytes: number;
  /** Newest modification or access time inside, ms since the epoch. */
  lastUsedMs: number;
  /** Belongs to this project's current setup (active stack's directory, this tree's stat cache). */
  current: boolean;
  /** The walk hit WALK_LIMIT: size is a lower bound and the item counts as recently used. */
  truncated?: boolean;
}

interface PruneOptions {
  now: number;
  /** Remove what was not used for this long. */
  olderThanMs: number;
  /** Also remove current items. */
  all: boolean;
}

interface PrunePlan {
  remove: CacheItem[];
  keep: CacheItem[];
  bytes: number;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `14d`, `12h`, `30m`, `2w`, `0` → milliseconds. */
export function parseAge(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw]?)$/.exec(raw.trim());
  if (!m) throw new UserError(`--older-than expects an age such as '14d', '12h', '30m' or '2w', got '${raw}'.`);
  const n = Number(m[1]);
  if (n === 0) return 0;
  if (!m[2]) throw new UserError(`--older-than '${raw}' needs a unit: s, m, h, d or w (e.g. '${raw}d').`);
  return n * UNITS[m[2]]!;
}

export function planPrune(items: CacheItem[], opts: PruneOptions): PrunePlan {
  const boundary = opts.now - opts.olderThanMs;
  const remove: CacheItem[] = [];
  const keep: CacheItem[] = [];
  for (const item of items) {
    const protectedItem = item.current && !opts.all;
    // A directory too large to walk fully may hold something fresh: only --all removes it.
    // An age of 0 means everything: a file touched this very millisecond (mtimes have sub-ms
    // precision, the clock does not) must not slip past the boundary.
    const stale = item.truncated ? opts.all && opts.olderThanMs === 0 : opts.olderThanMs === 0 || item.lastUsedMs <= boundary;
    (stale && !protectedItem ? remove : keep).push(item);
  }
  return { remove, keep, bytes: remove.reduce((n, i) => n + i.bytes, 0) };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/**
 * Prune only a cache root dwf made: carrying dwf's CACHEDIR.TAG, holding nothing at the top that
 * dwf does not make and no file tracked by git, and never `/`, `$HOME` (or anything holding
 * them) or a directory that holds the project itself. Returns the real path.
 */
export function checkPrunableRoot(cacheRoot: string, opts: { home?: string; projectRoot?: string; groups?: Iterable<string> }): string {
  const real = realpathSync(cacheRoot);
  const where = `cache root ${cacheRoot}`;
  const hint = "Point DWF_CACHE_ROOT or [cache] root in devflow.toml at a directory used only for dwf's cache (default .cache/devflow).";
  if (real === "/" || real === resolve("/")) throw new UserError(`refusing to prune ${where}: it is the filesystem root.`, hint);
  const home = opts.home ? safeReal(opts.home) : undefined;
  if (home && isInside(real, home))
    throw new UserError(`refusing to prune ${where}: it is your home directory${real === home ? "" : " or holds it"}.`, hint);
  const project = opts.projectRoot ? safeReal(opts.projectRoot) : undefined;
  if (project && isInside(real, project))
    throw new UserError(`refusing to prune ${where}: it holds the project itself (${project}).`, hint);
  // Not dwf's own (no tag, another tool's, or holding what dwf never makes): refused with the
  // reason. An empty folder has nothing to prune.
  const { state } = inspectCacheRoot(cacheRoot, opts.groups);
  if (state === "empty") return real;
  const tracked = trackedFiles(real);
  if (tracked.length) {
    throw new UserError(
      `refusing to prune ${where}: git tracks files in it (${tracked.map((t) => `'${t}'`).join(", ")}), so it is not only dwf's cache.`,
      `If an earlier dwf tagged this folder by mistake, delete ${join(cacheRoot, CACHEDIR_TAG)} and ${join(cacheRoot, ".gitignore")} from it. ${hint}`,
    );
  }
  return real;
}

function safeReal(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

interface WalkResult {
  bytes: number;
  newest: number;
  truncated: boolean;
}

/** Size and newest use below a path; symlinks are counted as links, never followed. */
function measure(path: string, limit = WALK_LIMIT): WalkResult {
  const r: WalkResult = { bytes: 0, newest: 0, truncated: false };
  let seen = 0;
  const visit = (p: string) => {
    if (seen++ >= limit) {
      r.truncated = true;
      return;
    }
    const st = lstatOrNull(p);
    if (!st) return;
    if (st.isDirectory()) {
      r.newest = Math.max(r.newest, st.mtimeMs);
      let names: string[] = [];
      try {
        names = readdirSync(p);
      } catch {}
      for (const n of names) {
        if (r.truncated) return;
        visit(join(p, n));
      }
      return;
    }
    r.bytes += st.isSymbolicLink() ? 0 : st.size;
    r.newest = Math.max(r.newest, st.mtimeMs, st.isSymbolicLink() ? 0 : st.atimeMs);
  };
  visit(path);
  return r;
}

interface ScanOptions {
  /** Extension directories of this project's active stacks. */
  currentGroups: Set<string>;
  /** This tree's stat cache and remembered config files, relative to the cache root. */
  currentStat?: ReadonlySet<string>;
  limit?: number;
}

/** A temp file this young may belong to a write still under way (another dwf run): left alone. */
const TEMP_GRACE_MS = 3_600_000;
const fresh = (mtimeMs: number) => Date.now() - mtimeMs < TEMP_GRACE_MS;

/** A task result `tasks/<xx>/<xx…64 hex>.json`, and the outputs kept with it (`….outputs.tgz`). */
const ENTRY_FILE = /^[0-9a-f]{64}(\.json|\.outputs\.tgz)$/;
/** A tree's stat cache or remembered config: `tasks/stat/<24 hex>[-config].json`. */
const STAT_FILE = /^[0-9a-f]{24}(-config)?\.json$/;
const SHARD = /^[0-9a-f]{2}$/;

/**
 * The cache root's contents as items, only those of the shapes dwf writes: task entries and stat
 * caches one by one, extension folders whole, and leftover temp files. Anything else is not
 * dwf's and is never listed, so never pruned.
 */
export function scanCacheRoot(root: string, opts: ScanOptions): CacheItem[] {
  const items: CacheItem[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(root).sort();
  } catch {
    return items;
  }
  for (const name of names) {
    if (CACHE_ROOT_MARKERS.includes(name)) continue;
    const abs = join(root, name);
    const st = lstatOrNull(abs);
    if (!st) continue;
    if (DWF_TEMP.test(name)) {
      if (!st.isDirectory() && !fresh(st.mtimeMs))
        items.push({ rel: name, kind: "file", group: name, bytes: st.size, lastUsedMs: st.mtimeMs, current: false });
      continue;
    }
    if (!st.isDirectory() || !CACHE_GROUP.test(name)) continue;
    if (name === TASKS_DIR) {
      items.push(...scanTasks(abs, opts));
      continue;
    }
    const m = measure(abs, opts.limit);
    items.push({
      rel: name,
      kind: "dir",
      group: name,
      bytes: m.bytes,
      lastUsedMs: m.newest,
      current: opts.currentGroups.has(name),
      ...(m.truncated ? { truncated: true } : {}),
    });
  }
  return items;
}

function scanTasks(dir: string, opts: ScanOptions): CacheItem[] {
  const items: CacheItem[] = [];
  let subs: string[] = [];
  try {
    subs = readdirSync(dir).sort();
  } catch {}
  for (const sub of subs) {
    const isStat = sub === "stat";
    if (!isStat && !SHARD.test(sub)) continue;
    const subAbs = join(dir, sub);
    if (!lstatOrNull(subAbs)?.isDirectory()) continue;
    let files: string[] = [];
    try {
      files = readdirSync(subAbs).sort();
    } catch {}
    for (const f of files) {
      const temp = DWF_TEMP.test(f);
      if (!temp && !(isStat ? STAT_FILE.test(f) : ENTRY_FILE.test(f) && f.startsWith(sub))) continue;
      const rel = `${TASKS_DIR}/${sub}/${f}`;
      const fst = lstatOrNull(join(subAbs, f));
      // A symlink or FIFO of an entry's name is damage: removed like the entry (unlinked, never followed).
      if (!fst || fst.isDirectory() || (temp && fresh(fst.mtimeMs))) continue;
      items.push({
        rel,
        kind: temp ? "file" : isStat ? "stat" : "task",
        group: TASKS_DIR,
        bytes: fst.isFile() ? fst.size : 0,
        lastUsedMs: fst.mtimeMs,
        current: isStat && (opts.currentStat?.has(rel) ?? false),
      });
    }
  }
  return items;
}

interface ApplyResult {
  removed: CacheItem[];
  bytes: number;
  errors: string[];
}

/** Delete the planned items. Every path is re-checked to be strictly inside the root; symlinks are unlinked, not followed. */
export function applyPrune(root: string, plan: PrunePlan): ApplyResult {
  const res: ApplyResult = { removed: [], bytes: 0, errors: [] };
  const parents = new Set<string>();
  for (const item of plan.remove) {
    const abs = resolve(root, item.rel);
    if (abs === root || !isInside(root, abs) || item.rel.split("/").includes("..")) {
      res.errors.push(`${item.rel}: outside the cache root, left alone`);
      continue;
    }
    try {
      removeTree(abs);
      res.removed.push(item);
      res.bytes += item.bytes;
      if (dirname(abs) !== root) parents.add(dirname(abs));
    } catch (e) {
      res.errors.push(`${item.rel}: ${(e as Error).message}`);
    }
  }
  // Empty `tasks/<xx>` directories left behind go too; rmdir refuses non-empty ones.
  for (const p of parents) {
    try {
      if (isInside(root, p) && p !== root && readdirSync(p).length === 0) rmdirSync(p);
    } catch {}
  }
  return res;
}

/** Another prune (or run) may remove the same files at the same time: what is already gone is done. */
function gone(e: unknown): boolean {
  return (e as NodeJS.ErrnoException).code === "ENOENT";
}

function removeTree(abs: string): void {
  let st;
  try {
    st = lstatSync(abs);
  } catch (e) {
    if (gone(e)) return;
    throw e;
  }
  try {
    if (st.isDirectory()) {
      for (const n of readdirSync(abs)) removeTree(join(abs, n));
      rmdirSync(abs);
    } else {
      unlinkSync(abs);
    }
  } catch (e) {
    if (!gone(e)) throw e;
  }
}

// ---- images -------------------------------------------------------------------------------

export interface ProjectImage {
  id: string;
  refs: string[];
  fingerprint: string | null;
  bytes: number;
  created: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** `<engine> images --format json`: podman prints one JSON array, docker one object per line. */
export function parseImagesJson(text: string): ProjectImage[] {
  const trimmed = text.trim();
  if (!trimmed) return [];
  let rows: Record<string, unknown>[];
  if (trimmed.startsWith("[")) rows = JSON.parse(trimmed) as Record<string, unknown>[];
  else
    rows = trimmed
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const byId = new Map<string, ProjectImage>();
  for (const r of rows) {
    const id = String(r.Id ?? r.ID ?? "");
    if (!id) continue;
    const names = Array.isArray(r.Names) ? (r.Names as string[]) : r.Repository ? [`${r.Repository}:${r.Tag ?? "latest"}`] : [];
    const labels = (r.Labels ?? {}) as Record<string, string>;
    const tag = typeof r.Tag === "string" ? r.Tag : (names[0]?.split(":").pop() ?? "");
    const fingerprint = labels["dev.devflow.fingerprint"] ?? (HEX64.test(tag) ? tag : null);
    const bytes = typeof r.Size === "number" ? r.Size : parseSize(String(r.Size ?? "0"));
    const created =
      typeof r.CreatedAt === "string" ? r.CreatedAt : typeof r.Created === "number" ? new Date(r.Created * 1000).toISOString() : "";
    const prev = byId.get(id);
    if (prev) prev.refs.push(...names.filter((n) => !prev.refs.includes(n)));
    else byId.set(id, { id, refs: names.filter((n) => !n.includes("<none>")), fingerprint, bytes, created });
  }
  return [...byId.values()];
}

function parseSize(s: string): number {
  const m = /^([\d.]+)\s*([kKMGT]?B)?/.exec(s.trim());
  if (!m) return 0;
  const mult: Record<string, number> = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 };
  return Math.round(Number(m[1]) * (mult[m[2] ?? "B"] ?? 1));
}

/** Images whose fingerprint is not the current one go; the current one only with --all. */
export function planImagePrune(
  images: ProjectImage[],
  current: string | null,
  all: boolean,
): { remove: ProjectImage[]; keep: ProjectImage[] } {
  const remove: ProjectImage[] = [];
  const keep: ProjectImage[] = [];
  for (const img of images) (all || img.fingerprint !== current ? remove : keep).push(img);
  return { remove, keep };
}
