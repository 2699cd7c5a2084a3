// The unified cache root: DWF_CACHE_ROOT, else [cache] root, else .cache/devflow under the
// project. Extensions get `<root>/<extension>/<path>`.
//
// A cache root is tagged (CACHEDIR.TAG, so backup tools skip it), git-ignored (`*`) and pruned,
// so pointing it at the wrong folder would hide or delete user files. dwf therefore uses only a
// folder it created itself (or an empty one, which it then tags), and refuses, with one message
// naming the setting: `/`, `$HOME` or a folder holding it, the project root or a folder holding
// the project, and — for [cache] root and the default — anything whose real path (symlinks
// followed) is outside the project. Only DWF_CACHE_ROOT may point outside, e.g. at a cache
// shared by several projects.
import {
  mkdirSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  linkSync,
  writeFileSync,
  type Stats,
} from "node:fs";
import { basename, dirname, isAbsolute, join, normalize, relative, resolve, sep } from "node:path";
import type { CacheMount } from "../sdk/types.ts";
import { IMAGE_HOME, WORKSPACE } from "../sdk/image.ts";
import type { Config } from "./config.ts";
import type { Registry } from "./registry.ts";
import { UserError } from "../lib/errors.ts";
import { isInside, lstatOrNull, READ_CAPS, readOwnText, realPathOf } from "../lib/fs.ts";

export { realPathOf } from "../lib/fs.ts";

export const DEFAULT_CACHE_ROOT = ".cache/devflow";
export const CACHEDIR_TAG = "CACHEDIR.TAG";
const CACHE_GITIGNORE = ".gitignore";
/** Files dwf keeps at the top of a cache root; they describe it and are never pruned. */
export const CACHE_ROOT_MARKERS = [CACHEDIR_TAG, CACHE_GITIGNORE];
/** The first line every CACHEDIR.TAG must start with (the Cache Directory Tagging convention). */
export const TAG_SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55";
/** What tells dwf's tag from another tool's (build tools tag their output folders too). */
const TAG_OWNER = "# This file is a cache directory tag created by dwf (Devflow).";
/**
 * Tags written since dwf checks what it tags carry this line. A tag without it was written by an
 * earlier dwf, which tagged whatever folder it was given: such a root is trusted only after its
 * contents are checked (see inspectCacheRoot), then its tag is rewritten.
 */
const TAG_LAYOUT = "# dwf cache root, layout 2: every top-level folder is tasks/ or one extension's.";
const TAG_BODY = `${TAG_SIGNATURE}\n${TAG_OWNER}\n${TAG_LAYOUT}\n# For information about cache directory tags see https://bford.info/cachedir/\n`;
const GITIGNORE_BODY = "# Created by dwf: its cache is never committed.\n*\n";
/** Temp files and folders dwf creates while writing atomically: `.<name>.dwf-<12 hex>.tmp`. */
export const DWF_TEMP = /^\..+\.dwf-[0-9a-f]{12}\.tmp$/;
/** Top-level folders of a cache root: `tasks` and one per extension (extension names' shape). */
export const CACHE_GROUP = /^[a-z][a-z0-9_-]*$/;

type CacheRootSource = "env" | "config" | "default";

/** Where a cache root came from, for messages that name the setting to fix. */
interface CacheRootOrigin {
  source: CacheRootSource;
  /** The value as written (DWF_CACHE_ROOT's value, [cache] root, or the default). */
  raw: string;
  /** devflow.toml, for [cache] root. */
  file?: string;
}

const origins = new Map<string, CacheRootOrigin>();
const checked = new Map<string, string>();

/** How to name the setting in a message: `DWF_CACHE_ROOT=…`, `devflow.toml: cache.root = "…"`. */
function describeOrigin(o: CacheRootOrigin | undefined, path?: string): string {
  if (!o) return `cache root ${path ?? ""}`.trimEnd();
  if (o.source === "env") return `DWF_CACHE_ROOT=${o.raw}`;
  if (o.source === "config") return `${o.file ?? "devflow.toml"}: cache.root = ${JSON.stringify(o.raw)}`;
  return `the cache root ${o.raw}`;
}

function fixFor(o: CacheRootOrigin): string {
  if (o.source === "env")
    return "Point DWF_CACHE_ROOT at a folder used only for dwf's cache, e.g. DWF_CACHE_ROOT=~/.cache/devflow (dwf creates it).";
  if (o.source === "config") {
    return `Set [cache] root in ${o.file ?? "devflow.toml"} to a folder inside the project used only for dwf (the default is "${DEFAULT_CACHE_ROOT}"); for a cache outside the project set DWF_CACHE_ROOT instead.`;
  }
  return `If ${DEFAULT_CACHE_ROOT} is not dwf's (or is a symlink a task made), move it away: dwf recreates it. Or point DWF_CACHE_ROOT or [cache] root at a folder used only for dwf.`;
}

/**
 * The cache root for a project, checked: throws a UserError (exit 2) naming DWF_CACHE_ROOT or
 * [cache] root when it would be `/`, `$HOME`, the project (or hold it), or — unless it comes
 * from DWF_CACHE_ROOT — lead outside the project. Cheap: a few realpath calls, once per process.
 */
export function resolveCacheRoot(
  root: string,
  config: Config,
  env: Record<string, string | undefined> = process.env,
  file?: string,
): string {
  const origin: CacheRootOrigin = env.DWF_CACHE_ROOT
    ? { source: "env", raw: env.DWF_CACHE_ROOT }
    : config.cache?.root !== undefined
      ? { source: "config", raw: config.cache.root, file: file ?? join(root, "devflow.toml") }
      : { source: "default", raw: DEFAULT_CACHE_ROOT };
  const id = `${root}\0${origin.source}\0${origin.raw}\0${env.HOME ?? ""}`;
  const done = checked.get(id);
  if (done !== undefined) return done;
  const path = checkCacheRoot(root, origin, env.HOME);
  checked.set(id, path);
  origins.set(path, origin);
  return path;
}

function checkCacheRoot(root: string, origin: CacheRootOrigin, home: string | undefined): string {
  const { raw } = origin;
  const where = describeOrigin(origin);
  const refuse = (why: string): never => {
    throw new UserError(`${where}: ${why}`, fixFor(origin));
  };
  if (raw.includes("\0")) refuse("the path contains a NUL byte.");
  const expanded = raw === "~" && home ? home : raw.startsWith("~/") && home ? join(home, raw.slice(2)) : raw;
  const path = isAbsolute(expanded) ? normalize(expanded) : resolve(root, expanded);
  const real = realPathOf(path);
  const shown = real === path ? path : `${path} (really ${real})`;
  if (real === resolve("/")) refuse(`${shown} is the filesystem root; dwf would tag it as a cache and prune it.`);
  const realHome = home ? realPathOf(home) : undefined;
  if (realHome && isInside(real, realHome))
    refuse(
      `${shown} is your home directory${real === realHome ? "" : " or holds it"}; dwf would tag it as a cache (backup tools skip it) and prune it.`,
    );
  const project = realPathOf(root);
  if (real === project) refuse(`${shown} is the project root itself; dwf would hide the project from git and backups and prune its files.`);
  if (isInside(real, project))
    refuse(`${shown} holds the project (${project}); dwf would hide the project from backups and prune its files.`);
  if (origin.source !== "env" && !isInside(project, real)) {
    const how = isInside(project, path)
      ? `leads outside the project through a symlink (to ${real})`
      : `resolves to ${real}, outside the project ${project}`;
    refuse(`${how}. Only DWF_CACHE_ROOT may name a cache outside the project.`);
  }
  return path;
}

/** Stat cache file for one tree: one per root, so projects sharing a cache root never collide. */
export function statCachePath(cacheRoot: string, root: string): string {
  const id = Bun.CryptoHasher.hash("sha256", root, "hex").slice(0, 24);
  return join(cacheRoot, "tasks", "stat", `${id}.json`);
}

/** The tree's remembered validated devflow.toml (config.ts), beside its stat cache. */
export function configMemoPath(cacheRoot: string, root: string): string {
  return statCachePath(cacheRoot, root).replace(/\.json$/, "-config.json");
}

/**
 * Which dwf tag `dir` carries (read safely: a FIFO or device in its place is no tag): "ours"
 * (this layout), "legacy" (an earlier dwf's) or false (none, or another tool's).
 */
function dwfTag(dir: string): "ours" | "legacy" | false {
  const text = readOwnText(join(dir, CACHEDIR_TAG), READ_CAPS.small);
  if (text === undefined || !text.startsWith(TAG_SIGNATURE) || !text.includes(TAG_OWNER)) return false;
  return text.includes(TAG_LAYOUT) ? "ours" : "legacy";
}

/** Whether `dir` carries dwf's current CACHEDIR.TAG. */
export function isDwfCacheRoot(dir: string): boolean {
  return dwfTag(dir) === "ours";
}

/**
 * Folder names an earlier dwf could have made at the top of its cache root: dwf's own, and the
 * stacks' the caller names (Registry.cacheGroups: every builtin stack, handed in by the CLI).
 */
function knownGroups(stacks: Iterable<string>): Set<string> {
  return new Set(["tasks", "images", "deps", "runs", "ci", ...stacks]);
}

/** Top-level entries of a cache root that dwf did not make: not a marker, `tasks`, an extension folder or a temp file. */
function foreignEntries(dir: string, limit = 5, known?: ReadonlySet<string>): string[] {
  const out: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return out;
  }
  for (const name of names) {
    if (DWF_TEMP.test(name)) continue;
    const st = lstatOrNull(join(dir, name));
    if (!st) continue;
    const ours = CACHE_ROOT_MARKERS.includes(name)
      ? st.isFile()
      : CACHE_GROUP.test(name) && st.isDirectory() && (!known || known.has(name));
    if (!ours && out.push(st.isDirectory() ? `${name}/` : name) >= limit) break;
  }
  return out;
}

/** The first top-level entry that has a cache folder's name but is a symlink. */
function symlinkedGroup(dir: string): { name: string; target: string } | undefined {
  let names: string[] = [];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return undefined;
  }
  for (const name of names) {
    if (!CACHE_GROUP.test(name) || !lstatOrNull(join(dir, name))?.isSymbolicLink()) continue;
    let target = "?";
    try {
      target = readlinkSync(join(dir, name));
    } catch {}
    return { name, target };
  }
  return undefined;
}

/** Files git tracks below `dir` (a few, for a message); empty when it is in no repository. */
export function trackedFiles(dir: string, limit = 5): string[] {
  try {
    // Bounded: a git that hangs (a network filesystem, a wedged hook) must not hang dwf.
    const r = Bun.spawnSync(["git", "ls-files", "-z", "--cached", "--", "."], {
      cwd: dir,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "ignore",
      env: { ...process.env, GIT_OPTIONAL_LOCKS: "0" },
      timeout: 10_000,
    });
    if (r.exitCode !== 0) return [];
    return r.stdout.toString().split("\0").filter(Boolean).slice(0, limit);
  } catch {
    return [];
  }
}

function shortList(names: string[]): string {
  return names.map((n) => `'${n}'`).join(", ");
}

/**
 * Create the cache root if needed, tagged for backup tools and ignored by git; returns it. An
 * existing folder is used only when it carries dwf's tag and holds nothing dwf did not make, or
 * is empty (then dwf tags it); anything else is refused with exit 2 before a byte is written.
 */
export function ensureCacheRoot(cacheRoot: string, groups: Iterable<string> = []): string {
  if (!lstatOrNull(cacheRoot) && createTagged(cacheRoot)) return cacheRoot;
  const { real, state } = inspectCacheRoot(cacheRoot, groups);
  // An empty folder becomes dwf's; dwf's own gets back a .gitignore someone deleted.
  if (state === "empty") writeMarker(real, CACHEDIR_TAG, TAG_BODY);
  // An earlier dwf's root whose contents checked out: tagged with this layout from now on.
  if (state === "legacy") replaceTag(real);
  writeMarker(real, CACHE_GITIGNORE, GITIGNORE_BODY);
  return cacheRoot;
}

/** Why dwf would refuse this existing cache root (for `dwf doctor`), or undefined. */
export function cacheRootRefusal(cacheRoot: string, groups: Iterable<string> = []): UserError | undefined {
  try {
    inspectCacheRoot(cacheRoot, groups);
    return undefined;
  } catch (e) {
    if (e instanceof UserError) return e;
    throw e;
  }
}

/**
 * An existing cache root: dwf's own ("ours": dwf's tag, nothing at the top dwf does not make)
 * or empty; anything else throws the UserError that names the setting and the fix.
 */
export function inspectCacheRoot(cacheRoot: string, groups: Iterable<string> = []): { real: string; state: "ours" | "legacy" | "empty" } {
  const origin = origins.get(cacheRoot);
  const refuse = (why: string, hint?: string): never => {
    throw new UserError(`${describeOrigin(origin, cacheRoot)}: ${why}`, hint ?? (origin ? fixFor(origin) : undefined));
  };
  let st: Stats | undefined;
  let real = cacheRoot;
  try {
    real = realpathSync(cacheRoot);
    st = statSync(real);
  } catch (e) {
    refuse(`cannot use ${cacheRoot}: ${(e as Error).message}`);
  }
  if (!st!.isDirectory()) refuse(`${cacheRoot} is not a folder.`);
  const tag = dwfTag(real);
  if (tag) {
    // An earlier dwf tagged any folder it was pointed at: its root must also hold nothing but
    // folders dwf itself would have made (tasks/, a known extension's) and no tracked file.
    // A folder swapped for a symlink (a task can do that through /workspace) is never followed.
    const link = symlinkedGroup(real);
    if (link) {
      refuse(
        `${join(cacheRoot, link.name)} is a symlink (to ${link.target}), which dwf never makes; a task may have replaced a cache folder with it, and dwf does not use or mount it.`,
        `Remove it (rm ${join(cacheRoot, link.name)}) and run again; dwf recreates the folder.`,
      );
    }
    const known = tag === "legacy" ? knownGroups(groups) : undefined;
    const foreign = foreignEntries(real, 5, known);
    const tracked = foreign.length || tag === "legacy" ? trackedFiles(real) : [];
    if (foreign.length || tracked.length) {
      refuse(
        `${cacheRoot} carries ${tag === "legacy" ? "an earlier dwf's" : "dwf's"} CACHEDIR.TAG but also holds ${foreign.length ? `entries dwf never makes (${shortList(foreign)})` : ""}${foreign.length && tracked.length ? " and " : ""}${tracked.length ? `files tracked by git (${shortList(tracked)})` : ""}, so it is not only dwf's cache.`,
        `If dwf tagged this folder by mistake, delete ${join(cacheRoot, CACHEDIR_TAG)} and ${join(cacheRoot, CACHE_GITIGNORE)} from it${tag === "legacy" ? " (or, if those entries are an old dwf cache, delete them)" : ""}.${origin ? ` ${fixFor(origin)}` : ""}`,
      );
    }
    return { real, state: tag };
  }
  let present: string[] = [];
  try {
    present = readdirSync(real).filter((n) => !DWF_TEMP.test(n));
  } catch (e) {
    refuse(`cannot list ${cacheRoot}: ${(e as Error).message}`);
  }
  if (present.length) {
    const tracked = trackedFiles(real);
    // tasks/ and the markers, but no valid tag (deleted, or replaced by something else).
    const known = knownGroups(groups);
    const looksOurs = !tracked.length && present.includes("tasks") && present.every((n) => CACHE_ROOT_MARKERS.includes(n) || known.has(n));
    refuse(
      `${cacheRoot} already holds files dwf did not create (${shortList(present.sort().slice(0, 5))}${present.length > 5 ? `, … ${present.length} entries` : ""})${tracked.length ? `, some tracked by git (${shortList(tracked)})` : ""}. dwf uses only a folder it created, or an empty one.`,
      looksOurs
        ? `It looks like a dwf cache whose ${CACHEDIR_TAG} is missing or damaged: if so, delete the folder (rm -rf ${cacheRoot}); dwf recreates it.`
        : undefined,
    );
  }
  return { real, state: "empty" };
}

function randomHex(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Make the cache root appear with its tag already inside: a temp folder beside it, renamed into
 * place. False when something appeared there first (another dwf run): the caller checks it.
 */
function createTagged(cacheRoot: string): boolean {
  const parent = dirname(cacheRoot);
  mkdirSync(parent, { recursive: true });
  const tmp = join(parent, `.${basename(cacheRoot)}.dwf-${randomHex()}.tmp`);
  mkdirSync(tmp);
  try {
    writeFileSync(join(tmp, CACHEDIR_TAG), TAG_BODY);
    writeFileSync(join(tmp, CACHE_GITIGNORE), GITIGNORE_BODY);
    renameSync(tmp, cacheRoot);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOTEMPTY" || code === "EEXIST" || code === "ENOTDIR" || code === "EISDIR") return false;
    throw e;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Rewrite the tag of a checked legacy root in place (temp file + rename: always whole). */
function replaceTag(dir: string): void {
  const tmp = join(dir, `.${CACHEDIR_TAG}.dwf-${randomHex()}.tmp`);
  try {
    writeFileSync(tmp, TAG_BODY, { flag: "wx" });
    renameSync(tmp, join(dir, CACHEDIR_TAG));
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Write a marker file whole or not at all (temp file + link, which never replaces one that exists). */
function writeMarker(dir: string, name: string, body: string): void {
  const target = join(dir, name);
  if (lstatOrNull(target)) return;
  const tmp = join(dir, `.${name}.dwf-${randomHex()}.tmp`);
  try {
    writeFileSync(tmp, body, { flag: "wx" });
    linkSync(tmp, target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Container paths a cache mount may never cover: the system's own folders and the project. */
const RESERVED_CONTAINER_PATHS = [
  "/bin",
  "/boot",
  "/dev",
  "/etc",
  "/lib",
  "/lib32",
  "/lib64",
  "/libx32",
  "/proc",
  "/run",
  "/sbin",
  "/sys",
  "/usr",
  "/var",
  "/tmp",
  "/home",
  "/root",
  IMAGE_HOME,
];
const UNDER_FORBIDDEN = ["/dev", "/proc", "/sys"];

/**
 * Why a container path given by an extension cannot be a mount target, or undefined when it
 * can: absolute, normalised (no `.`/`..`/`//`/trailing `/`), printable without `:` or `,` (no
 * mount options can be smuggled in), not `/`, not the project (`/workspace` and below) and not
 * a system folder.
 */
export function badContainerPath(p: unknown, workspace = WORKSPACE): string | undefined {
  if (typeof p !== "string" || p === "") return "it is empty";
  if (!p.startsWith("/")) return "it is not absolute";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(p)) return "it contains a control character (newline, tab, NUL…)";
  if (/[:,]/.test(p)) return "it contains ':' or ',' (mount options cannot be part of a cache path)";
  if (p === "/") return "it is the container's root";
  const segs = p.slice(1).split("/");
  if (segs.some((s) => s === "" || s === "." || s === "..")) return "it is not a normalised path (no '.', '..', '//' or trailing '/')";
  if (p === workspace || p.startsWith(`${workspace}/`)) return `it is inside ${workspace}, where it would hide project files`;
  if (RESERVED_CONTAINER_PATHS.includes(p)) return "it is a system folder of the image";
  if (UNDER_FORBIDDEN.some((f) => p.startsWith(`${f}/`))) return "it is inside a kernel file system (/dev, /proc, /sys)";
  return undefined;
}

/** Env names dwf passes to tasks and containers: shell identifiers. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Every active stack's cache mounts, each with its folder under the cache root. */
export async function stackCacheMounts(registry: Registry, cacheRoot: string): Promise<{ host: string; mount: CacheMount }[]> {
  const out: { host: string; mount: CacheMount }[] = [];
  for (const s of registry.stacks)
    for (const mount of (await s.ext.cacheMounts?.(registry.ctx)) ?? [])
      out.push({ host: cacheMountHostPath(cacheRoot, s.name, mount), mount });
  return out;
}

/**
 * Host directory for an extension's cache mount. Rejects paths that would leave
 * `<cacheRoot>/<extension>` (absolute paths, `..`), since extensions are not trusted to
 * choose host paths, and container paths that could hide project or system files or carry
 * mount options.
 */
export function cacheMountHostPath(cacheRoot: string, extension: string, mount: CacheMount): string {
  const base = join(cacheRoot, extension);
  if (!mount.path || isAbsolute(mount.path) || mount.path.split(/[\\/]/).includes("..") || /[\u0000-\u001f]/.test(mount.path)) {
    throw new UserError(
      `extension '${extension}' asked to mount cache path ${JSON.stringify(mount.path)}, which escapes the cache root.`,
      "Cache paths must be relative to the extension's cache directory, without '..'.",
    );
  }
  const bad = badContainerPath(mount.container);
  if (bad) {
    throw new UserError(
      `extension '${extension}' gave cache mount '${mount.path}' the container path ${JSON.stringify(mount.container)}: ${bad}.`,
      `Use an absolute, normalised folder for the tool's cache, such as ${IMAGE_HOME}/.cache/<tool>.`,
    );
  }
  if (mount.env !== undefined && mount.env !== null && !ENV_NAME.test(mount.env)) {
    throw new UserError(
      `extension '${extension}' gave cache mount '${mount.path}' the env name ${JSON.stringify(mount.env)}, which is not a variable name.`,
      "Env names are letters, digits and '_', not starting with a digit.",
    );
  }
  const full = resolve(base, mount.path);
  const rel = relative(base, full);
  if (rel === "" || rel.startsWith("..") || rel.split(sep).includes("..")) {
    throw new UserError(`extension '${extension}' asked to mount cache path '${mount.path}', which escapes the cache root.`);
  }
  return full;
}

/**
 * Create an extension's cache folder and prove that, symlinks followed, it is inside the cache
 * root: a container task can see the cache root through /workspace and swap a folder for a
 * symlink to any host path, which the next run would otherwise mount read-write.
 */
export function ensureMountSource(cacheRoot: string, host: string): void {
  const realRoot = realpathSync(cacheRoot);
  const check = () => {
    const real = realPathOf(host);
    if (real === realRoot || !isInside(realRoot, real)) {
      const origin = origins.get(cacheRoot);
      throw new UserError(
        `cache folder ${host} leads outside the cache root ${cacheRoot} (to ${real}) through a symlink; dwf mounts only folders inside its cache root.`,
        `A task may have replaced a folder with a symlink. Remove it (rm ${host}, or the linked folder above it) and run again${origin?.source === "env" ? "" : `; the cache root is ${describeOrigin(origin, cacheRoot)}`}.`,
      );
    }
  };
  check();
  mkdirSync(host, { recursive: true });
  check();
  if (!statSync(host).isDirectory()) throw new UserError(`cache folder ${host} is not a folder.`, `Remove it (rm ${host}) and run again.`);
}
