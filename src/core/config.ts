// devflow.toml: discovery (nearest file upwards, like git), reading, and validation
// (config-schema.ts). A config that passed validation is remembered by its exact text (in a
// signed memo), so an unchanged devflow.toml is not parsed and checked again on every run.
import { existsSync, linkSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import type { Config } from "./config-schema.ts";
import { UserError } from "../lib/errors.ts";
import { configMemoPath, isDwfCacheRoot, resolveCacheRoot } from "./cache-root.ts";
import { writeCacheFile } from "../lib/safe-write.ts";
import { READ_CAPS, readOwnText } from "../lib/fs.ts";
import { BUILD_ID, VERSION } from "../lib/version.ts";

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
/**
 * Whether a remote task cache is set up at all, in devflow.toml or the environment (cheap: the
 * settings themselves, and whether they are complete, are the remote cache's to resolve).
 */
export function remoteCacheConfigured(config: Config, env: Record<string, string | undefined> = process.env): boolean {
  return Boolean(config.cache?.remote || env.DWF_REMOTE_CACHE_URL || env.TURBO_API);
}

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
function findProjectRoot(start: string): string {
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

const MEMO_VERSION = 2;

/**
 * The validated config, from the memo when this exact text (at this path, for this dwf build)
 * passed before. The memo lives beside the tree's stat cache in the default cache root, and is
 * written only when that root already exists and the config keeps its cache there. Anything
 * that can write the cache root (a container task can, through /workspace) could forge it, so
 * the memo carries an HMAC under a per-user secret kept outside the project (memoSecret): a
 * forged or altered memo is ignored and the text is validated as if there were none.
 */
function validatedConfig(text: string, path: string, root: string, env: Record<string, string | undefined>): Config {
  if (BUILD_ID === undefined) return parseConfigText(text, path);
  let cacheRoot: string;
  try {
    cacheRoot = resolveCacheRoot(root, {}, env);
  } catch {
    // A cache root dwf refuses is reported where it is used; the memo just is not kept (and no
    // memo key is made for it).
    return parseConfigText(text, path);
  }
  const secret = memoSecret(env);
  if (secret === undefined) return parseConfigText(text, path);
  const memo = configMemoPath(cacheRoot, root);
  const mac = (configJson: string) =>
    new Bun.CryptoHasher("sha256", secret).update(`dwf-config\0${VERSION}\0${BUILD_ID}\0${path}\0${text}\0${configJson}`).digest("hex");
  try {
    const raw = readOwnText(memo, READ_CAPS.configMemo);
    if (raw !== undefined) {
      const data = JSON.parse(raw) as { version?: unknown; mac?: unknown; config?: unknown };
      if (
        data.version === MEMO_VERSION &&
        typeof data.config === "string" &&
        typeof data.mac === "string" &&
        data.mac === mac(data.config)
      ) {
        const config = JSON.parse(data.config) as unknown;
        if (typeof config === "object" && config !== null) return config as Config;
      }
    }
  } catch {}
  const config = parseConfigText(text, path);
  try {
    if (resolveCacheRoot(root, config, env, path) === cacheRoot && isDwfCacheRoot(cacheRoot)) {
      const configJson = JSON.stringify(config);
      writeCacheFile(cacheRoot, memo, JSON.stringify({ version: MEMO_VERSION, mac: mac(configJson), config: configJson }));
    }
  } catch {
    // Only an accelerator: a read-only cache folder just means validating every time.
  }
  return config;
}

/**
 * The key the config memo is signed with: 32 random bytes in `<XDG_STATE_HOME or
 * ~/.local/state>/dwf/memo-key` (0600, folder 0700), outside any project, so no task
 * that can only write the project or the cache root can read or replace it. Undefined
 * (validate every time) when there is no such home or it cannot be written.
 */
function memoSecret(env: Record<string, string | undefined>): string | undefined {
  const base =
    env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME)
      ? env.XDG_STATE_HOME
      : env.HOME && isAbsolute(env.HOME)
        ? join(env.HOME, ".local", "state")
        : undefined;
  if (!base) return undefined;
  const dir = join(base, "dwf");
  const file = join(dir, "memo-key");
  const valid = (k: string | undefined) => (k !== undefined && /^[0-9a-f]{64}$/.test(k.trim()) ? k.trim() : undefined);
  const known = valid(readOwnText(file, 256));
  if (known) return known;
  try {
    // Something else is there (garbage, a link, a FIFO): neither trusted nor replaced.
    if (lstatSync(file, { throwIfNoEntry: false })) return undefined;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const key = Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0")).join("");
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, key + "\n", { flag: "wx", mode: 0o600 });
    try {
      // link, not rename: of two first runs at once, one key wins and both use it.
      linkSync(tmp, file);
    } catch {}
    rmSync(tmp, { force: true });
    return valid(readOwnText(file, 256));
  } catch {
    return undefined;
  }
}
