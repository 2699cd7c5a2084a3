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
const TAG_BODY =
  "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by dwf (Devflow).\n# For information about cache directory tags see https://bford.info/cachedir/\n";

export function resolveCacheRoot(root: string, config: Config, env: Record<string, string | undefined> = process.env): string {
  const raw = env.DWF_CACHE_ROOT || config.cache?.root || DEFAULT_CACHE_ROOT;
  const expanded = raw.startsWith("~/") && env.HOME ? join(env.HOME, raw.slice(2)) : raw;
  return isAbsolute(expanded) ? normalize(expanded) : resolve(root, expanded);
}

/** Create the cache root (tagged) if needed; returns it. */
export function ensureCacheRoot(cacheRoot: string): string {
  if (!existsSync(cacheRoot)) mkdirSync(cacheRoot, { recursive: true });
  const tag = join(cacheRoot, CACHEDIR_TAG);
  if (!existsSync(tag)) {
    try {
      writeFileSync(tag, TAG_BODY, { flag: "wx" });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  return cacheRoot;
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
