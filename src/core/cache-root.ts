// The unified cache root: DWF_CACHE_ROOT, else [cache] root, else .cache/devflow under the
// project. Extensions get `<root>/<extension>/<path>`; dwf tags the root it creates so
// backup tools skip it and `dwf cache prune` can tell it is really a dwf cache.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { isAbsolute, join, normalize, relative, resolve, sep } from "node:path";
import type { CacheMount } from "./types.ts";
import type { Config } from "./config.ts";
import { UserError } from "./errors.ts";

export const DEFAULT_CACHE_ROOT = ".cache/devflow";
export const CACHEDIR_TAG = "CACHEDIR.TAG";
const CACHE_GITIGNORE = ".gitignore";
/** Files dwf keeps at the top of a cache root; they describe it and are never pruned. */
export const CACHE_ROOT_MARKERS = [CACHEDIR_TAG, CACHE_GITIGNORE];
/** The first line every CACHEDIR.TAG must start with (the Cache Directory Tagging convention). */
export const TAG_SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55";
const TAG_BODY = `${TAG_SIGNATURE}\n# This file is a cache directory tag created by dwf (Devflow).\n# For information about cache directory tags see https://bford.info/cachedir/\n`;

export function resolveCacheRoot(root: string, config: Config, env: Record<string, string | undefined> = process.env): string {
  const raw = env.DWF_CACHE_ROOT || config.cache?.root || DEFAULT_CACHE_ROOT;
  const expanded = raw.startsWith("~/") && env.HOME ? join(env.HOME, raw.slice(2)) : raw;
  return isAbsolute(expanded) ? normalize(expanded) : resolve(root, expanded);
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

/** Create the cache root if needed, tagged for backup tools and ignored by git; returns it. */
export function ensureCacheRoot(cacheRoot: string): string {
  if (!existsSync(cacheRoot)) mkdirSync(cacheRoot, { recursive: true });
  writeOnce(join(cacheRoot, CACHEDIR_TAG), TAG_BODY);
  // Like other tools' caches inside a checkout: it ignores itself, so `git status` stays clean
  // even when the project's .gitignore does not list it.
  writeOnce(join(cacheRoot, CACHE_GITIGNORE), "# Created by dwf: its cache is never committed.\n*\n");
  return cacheRoot;
}

function writeOnce(path: string, body: string): void {
  if (existsSync(path)) return;
  try {
    writeFileSync(path, body, { flag: "wx" });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
}

/**
 * Host directory for an extension's cache mount. Rejects paths that would leave
 * `<cacheRoot>/<extension>` (absolute paths, `..`), since extensions are not trusted to
 * choose host paths.
 */
export function cacheMountHostPath(cacheRoot: string, extension: string, mount: CacheMount): string {
  const base = join(cacheRoot, extension);
  if (!mount.path || isAbsolute(mount.path) || mount.path.split(/[\\/]/).includes("..")) {
    throw new UserError(
      `extension '${extension}' asked to mount cache path '${mount.path}', which escapes the cache root.`,
      "Cache paths must be relative to the extension's cache directory, without '..'.",
    );
  }
  if (!mount.container || !mount.container.startsWith("/")) {
    throw new UserError(`extension '${extension}' gave cache mount '${mount.path}' a container path '${mount.container}' that is not absolute.`);
  }
  const full = resolve(base, mount.path);
  const rel = relative(base, full);
  if (rel.startsWith("..") || rel.split(sep).includes("..")) {
    throw new UserError(`extension '${extension}' asked to mount cache path '${mount.path}', which escapes the cache root.`);
  }
  return full;
}
