// devflow.toml: discovery (nearest file upwards, like git), reading, and validation
// (config-schema.ts). A config that passed validation is remembered by its exact text, so
// an unchanged devflow.toml is not parsed and checked again on every run.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Config } from "./config-schema.ts";
import { UserError } from "./errors.ts";
import { configMemoPath, isDwfCacheRoot, resolveCacheRoot } from "./cache-root.ts";
import { writeCacheFile } from "./safe-write.ts";
import { READ_CAPS, readOwnText } from "./fs.ts";
import { BUILD_ID, VERSION } from "../version.ts";

export type { Config, ExtensionConfig } from "./config-schema.ts";

export const CONFIG_FILE = "devflow.toml";

export interface LoadedConfig {
  config: Config;
  /** Absolute path of devflow.toml, or null when running without one. */
  path: string | null;
  /** Project root: the directory holding devflow.toml (or the start directory). */
  root: string;
  /** Raw text, for fingerprinting and error excerpts. */
  text: string;
}

/** Search from `start` upwards for devflow.toml, stopping at the filesystem root. */
export function findConfig(start: string): string | null {
  let dir = resolve(start);
  for (;;) {
    const candidate = join(dir, CONFIG_FILE);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/** Find the directory a project without devflow.toml is rooted at: the git top level, else cwd. */
export function findProjectRoot(start: string): string {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, ".git"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return resolve(start);
    dir = parent;
  }
}

export function loadConfig(opts: { cwd: string; explicit?: string; env?: Record<string, string | undefined> }): LoadedConfig {
  const path = opts.explicit ? resolve(opts.cwd, opts.explicit) : findConfig(opts.cwd);
  if (!path) return { config: {}, path: null, root: findProjectRoot(opts.cwd), text: "" };
  let text: string;
  try {
    const st = statSync(path);
    if (st.isDirectory()) {
      throw new UserError(`${path} is a directory, not a devflow.toml file.`, "Point --config at the file itself.");
    }
    // A FIFO or device would block the read forever (or never end): only regular files.
    if (!st.isFile()) throw new UserError(`${path} is not a regular file.`, "Make devflow.toml a plain text file.");
    const bytes = readFileSync(path);
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (e) {
    if (e instanceof UserError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ENOENT") {
      throw new UserError(`config file ${path} does not exist.`, "Check --config, or run 'dwf init' to create one.");
    }
    if (err.code === "EACCES") throw new UserError(`cannot read ${path}: permission denied.`, "Fix the file's permissions.");
    if (e instanceof TypeError) throw new UserError(`${path} is not valid UTF-8 text.`, "Save devflow.toml as UTF-8.");
    throw new UserError(`cannot read ${path}: ${err.message}`);
  }
  const root = dirname(path);
  return { config: validatedConfig(text, path, root, opts.env ?? process.env), path, root, text };
}

/** Validate devflow.toml text (loads the validator). Throws a UserError describing the first problem. */
export function parseConfigText(text: string, file: string): Config {
  return (require("./config-schema.ts") as typeof import("./config-schema.ts")).parseConfigText(text, file);
}

const MEMO_VERSION = 1;

/**
 * The validated config, from the memo when this exact text (at this path, for this dwf build)
 * passed before. The memo lives beside the tree's stat cache in the default cache root, and is
 * written only when that root already exists and the config keeps its cache there.
 */
function validatedConfig(text: string, path: string, root: string, env: Record<string, string | undefined>): Config {
  const key = memoKey(text, path);
  if (key === undefined) return parseConfigText(text, path);
  let cacheRoot: string;
  try {
    cacheRoot = resolveCacheRoot(root, {}, env);
  } catch {
    // A cache root dwf refuses is reported where it is used; the memo just is not kept.
    return parseConfigText(text, path);
  }
  const memo = configMemoPath(cacheRoot, root);
  try {
    const data = JSON.parse(readOwnText(memo, READ_CAPS.configMemo) ?? "null") as { version?: unknown; key?: unknown; config?: unknown };
    if (data.version === MEMO_VERSION && data.key === key && typeof data.config === "object" && data.config !== null) return data.config as Config;
  } catch {}
  const config = parseConfigText(text, path);
  try {
    if (resolveCacheRoot(root, config, env, path) === cacheRoot && isDwfCacheRoot(cacheRoot)) {
      writeCacheFile(cacheRoot, memo, JSON.stringify({ version: MEMO_VERSION, key, config }));
    }
  } catch {
    // Only an accelerator: a read-only cache folder just means validating every time.
  }
  return config;
}

/** Same text, same file, same dwf build: the same validation result. Undefined from source. */
function memoKey(text: string, path: string): string | undefined {
  if (BUILD_ID === undefined) return undefined;
  return Bun.CryptoHasher.hash("sha256", `dwf-config\0${VERSION}\0${BUILD_ID}\0${path}\0${text}`, "hex");
}
