// The task result cache: a passing task's output stored under a key that covers everything
// its result depends on, so an unchanged task is replayed instead of re-run.
import { realpathSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import type { Prepared, PreparedTask } from "../core/prepare.ts";
import type { TaskCache, TaskCacheFactory, TaskCacheHit } from "../core/execute.ts";
import type { Runner, RunOutcome } from "../core/runner.ts";
import { computeFingerprint, stackFingerprintInputs } from "../core/fingerprint.ts";
import { resolveProgram } from "../lib/process.ts";
import { hashTree, treeDigest, type FileDigests } from "./tree-hash.ts";
import { redactText, secretValues } from "../lib/redact.ts";
import { log } from "../lib/log.ts";
import { removeStaleTemps, writeCacheFile } from "../lib/safe-write.ts";
import { READ_CAPS, readOwnFile, touchNow } from "../lib/fs.ts";
import { cacheMountHostPath } from "../core/cache-root.ts";
import { insideContainer } from "../sdk/image.ts";

export const ENTRY_VERSION = 1;
export const TASKS_DIR = "tasks";

/** Everything a task's result depends on, as plain data; `taskKey` hashes it. */
export interface KeyParts {
  task: string;
  program: string;
  args: string[];
  env: Record<string, string>;
  /** What the task inherits from dwf's own environment (see inheritedKeyEnv). */
  inherited: Record<string, string>;
  /** Working directory relative to the project root. */
  cwd: string;
  runner: "host" | "container";
  /** Container: the image fingerprint. Host: the resolved program's identity. */
  environment: string;
  /** The stack's fingerprint inputs (manifests, lockfiles, toolchain pins). */
  extension: string;
  /** Digest of the files the task can see. */
  tree: string;
}

export interface CacheEntry {
  version: number;
  key: string;
  task: string;
  durationMs: number;
  output: string;
  created: string;
}

function sortedPairs(env: Record<string, string>): [string, string | undefined][] {
  return Object.keys(env)
    .sort()
    .map((k) => [k, env[k]]);
}

/** The inherited environment is the same object for every task of a run: serialise it once. */
const pairsJson = new WeakMap<Record<string, string>, string>();

function sortedPairsJson(env: Record<string, string>): string {
  let json = pairsJson.get(env);
  if (json === undefined) pairsJson.set(env, (json = JSON.stringify(sortedPairs(env))));
  return json;
}

export function taskKey(p: KeyParts): string {
  // Spelled out, this is JSON.stringify of the array of parts, with the inherited part reused.
  const j = JSON.stringify;
  const canonical = `[${j("dwf-task-v2")},${j(p.task)},${j(p.program)},${j(p.args)},${j(sortedPairs(p.env))},${sortedPairsJson(p.inherited)},${j(p.cwd)},${j(p.runner)},${j(p.environment)},${j(p.extension)},${j(p.tree)}]`;
  return Bun.CryptoHasher.hash("sha256", canonical, "hex");
}

export function entryPath(cacheRoot: string, key: string): string {
  return join(cacheRoot, TASKS_DIR, key.slice(0, 2), `${key}.json`);
}

/** An entry is trusted only when it parses, has the right shape, and names the key and task asked for. */
export function parseEntry(text: string, key: string, task: string): CacheEntry | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof data !== "object" || data === null) return null;
  const e = data as Record<string, unknown>;
  if (e.version !== ENTRY_VERSION || e.key !== key || e.task !== task) return null;
  if (typeof e.durationMs !== "number" || !Number.isFinite(e.durationMs) || e.durationMs < 0) return null;
  if (typeof e.output !== "string" || typeof e.created !== "string") return null;
  return e as unknown as CacheEntry;
}

/** Host runs: which binary the program resolves to, and whether it changed (path, size, mtime). */
export function toolIdentity(program: string, cwd: string, pathVar: string): string {
  // The same resolution the host runner uses, so the key names the binary that will run.
  const found = resolveProgram(program, cwd, pathVar);
  if (!found) return `missing:${program}`;
  try {
    const real = realpathSync(found);
    const st = statSync(real);
    return `${found}\0${real}\0${st.size}\0${st.mtimeMs}`;
  } catch {
    return `unreadable:${found}`;
  }
}

/**
 * Inherited variables that describe the session, not the build: shell bookkeeping, the
 * terminal or login session, CI run ids and per-step files, dwf's own switches. Exact names
 * only (README: "What the key leaves out"). They are left out of the key so they do not defeat
 * the cache, and for the same reason a cacheable host task does not get them: what a task
 * can see is what its key covers. Everything else it inherits (TERM, GITHUB_REF, …) is hashed.
 */
export const KEY_EXCLUDED_ENV: readonly string[] = [
  // shell bookkeeping
  "_", "PWD", "OLDPWD", "SHLVL", "PS1", "PS2", "PS3", "PS4", "PROMPT_COMMAND", "MAIL", "MAILCHECK",
  "HISTFILE", "HISTSIZE", "HISTFILESIZE", "HISTCONTROL", "HISTIGNORE", "HISTTIMEFORMAT", "COLUMNS", "LINES",
  // terminal and login session
  "TERM_SESSION_ID", "WINDOWID", "STY", "WINDOW", "TMUX", "TMUX_PANE", "KITTY_WINDOW_ID", "ITERM_SESSION_ID", "WT_SESSION",
  "SECURITYSESSIONID", "XDG_SESSION_ID", "XDG_VTNR", "INVOCATION_ID", "JOURNAL_STREAM", "SYSTEMD_EXEC_PID", "MANAGERPID",
  "SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY", "SSH_AUTH_SOCK", "SSH_AGENT_PID", "GPG_TTY",
  // CI: ids and files that change with every run or step, and the run's credentials
  "GITHUB_RUN_ID", "GITHUB_RUN_NUMBER", "GITHUB_RUN_ATTEMPT", "GITHUB_JOB", "GITHUB_ACTION", "GITHUB_ENV", "GITHUB_OUTPUT",
  "GITHUB_PATH", "GITHUB_STATE", "GITHUB_STEP_SUMMARY", "GITHUB_TOKEN", "RUNNER_TRACKING_ID", "ACTIONS_RUNTIME_TOKEN",
  "ACTIONS_RUNTIME_URL", "ACTIONS_CACHE_URL", "ACTIONS_RESULTS_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL",
  // dwf's own switches
  "DWF_LOG", "DWF_PROFILE", "DWF_ENGINE", "DWF_CACHE_ROOT", "DWF_DOWNLOAD_BASE", "DWF_INSTALL_DIR", "DWF_RUN",
  // the remote cache's settings and credentials (dwf's own names and the turbo ones it accepts)
  "DWF_REMOTE_CACHE", "DWF_REMOTE_CACHE_URL", "DWF_REMOTE_CACHE_TOKEN", "DWF_REMOTE_CACHE_TEAM", "DWF_REMOTE_CACHE_SIGNATURE_KEY",
  "TURBO_API", "TURBO_TOKEN", "TURBO_TEAM", "TURBO_REMOTE_CACHE_SIGNATURE_KEY",
];
const EXCLUDED = new Set(KEY_EXCLUDED_ENV);

/**
 * The part of the inherited environment a task's result can depend on. Host tasks inherit the
 * whole environment but KEY_EXCLUDED_ENV (a changed `FOO=…` must re-run them); containers only get CI (see baseEnv).
 */
export function inheritedKeyEnv(env: Record<string, string | undefined>, runner: "host" | "container"): Record<string, string> {
  const out: Record<string, string> = {};
  if (runner === "container") {
    if (env.CI) out.CI = env.CI;
    return out;
  }
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !EXCLUDED.has(k)) out[k] = v;
  return out;
}

function memo<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

export interface TaskCacheOptions {
  cacheRoot: string;
  prepared: Prepared;
}

export function createTaskCache(opts: TaskCacheOptions): TaskCache & { keyFor(t: PreparedTask, runner: Runner): Promise<string>; keyedAs(runner: Runner): Promise<"host" | "container"> } {
  const { cacheRoot, prepared } = opts;
  const root = prepared.loaded.root;
  const config = prepared.loaded.config;
  const registry = prepared.registry;
  const keys = new Map<string, Promise<string>>();
  const inherited = { host: inheritedKeyEnv(process.env, "host"), container: inheritedKeyEnv(process.env, "container") };

  // Hashed once per run, on the first lookup: every task sees the tree as it was when the run began.
  const tree = memo(async (): Promise<FileDigests> => {
    const started = performance.now();
    // Installed dependencies are not sources: what is installed is known from the stack's
    // fingerprint inputs (its lockfile), and hashing a modules folder would cost more than the run.
    const installed = (prepared.dependencies ?? []).flatMap((d) => d.paths.map((p) => join(root, p)));
    const { files, stats } = await hashTree(root, { cacheRoot, exclude: [cacheRoot, ...installed] });
    log.debug(`task cache: hashed ${stats.listed} files (${stats.read} read, ${stats.reused} unchanged${stats.listReused ? ", git listing reused" : ""}) in ${Math.round(performance.now() - started)}ms`);
    return files;
  });
  // The tree again, after a task: a hash started after the task ended shows what the task left,
  // so tasks that end while one is under way wait for the next; one hash serves all that ended before it.
  let rehash: { started: number; files: Promise<FileDigests> } | undefined;
  const treeAfter = (endedAt: number): Promise<FileDigests> => {
    if (rehash && rehash.started >= endedAt) return rehash.files;
    const started = performance.now();
    const files = hashTree(root, { cacheRoot, exclude: [cacheRoot] }).then((r) => r.files);
    rehash = { started, files };
    return files;
  };
  // Most tasks see the whole tree: one digest per distinct set of input prefixes.
  const digests = new Map<string, string>();
  const digestOf = (files: FileDigests, inputs: string[] | undefined) => {
    const id = inputs ? JSON.stringify(inputs) : "";
    let d = digests.get(id);
    if (d === undefined) digests.set(id, (d = treeDigest(files, inputs)));
    return d;
  };
  const imageFingerprint = memo(async () => (await prepared.fingerprint()).hash);
  // A stack's fingerprint never needs the Dockerfile: host runs do not read it at all.
  const stackInputs = memo(() => stackFingerprintInputs(registry, config, root));
  const stackFingerprints = new Map<string, Promise<string>>();
  const stackFingerprint = (stack: string) => {
    let p = stackFingerprints.get(stack);
    if (!p) {
      p = stackInputs().then((all) => {
        const mine = new Map([...all].filter(([, from]) => from.includes(stack) || from.includes("config")));
        return computeFingerprint(root, mine).then((f) => f.hash);
      });
      stackFingerprints.set(stack, p);
    }
    return p;
  };

  // Many tasks run the same program: resolve and stat it once per run.
  const tools = new Map<string, string>();
  const tool = (program: string, cwd: string, pathVar: string): string => {
    const id = `${program}\0${cwd}\0${pathVar}`;
    let v = tools.get(id);
    if (v === undefined) tools.set(id, (v = toolIdentity(program, cwd, pathVar)));
    return v;
  };

  const cwds = new Map<string, string>();
  const relativeCwd = (cwd: string) => {
    let rel = cwds.get(cwd);
    if (rel === undefined) cwds.set(cwd, (rel = relative(root, cwd)));
    return rel;
  };

  // --- Inside the dwf image (CI's container jobs run dwf there with IS_CONTAINER=true) ---
  // Actions run directly, but the environment is the image: when DWF_IMAGE names the image of
  // this tree's fingerprint, keys are made as a container run's would be (image identity, only
  // CI inherited, cache env by its in-container path), so a laptop's container run and CI share
  // results. Without that claim, or when it names another fingerprint, host keys as usual.
  const claimedImage = insideContainer(process.env) ? process.env.DWF_IMAGE?.trim() : undefined;
  const keyedAs = memo(async (): Promise<"host" | "container"> => {
    if (!claimedImage) return "host";
    try {
      return claimedImage.endsWith(`:${await imageFingerprint()}`) ? "container" : "host";
    } catch {
      return "host";
    }
  });
  const kindOf = async (runner: Runner) => (runner.kind === "container" ? "container" : await keyedAs());
  /** Host path → in-container path of every cache mount, for keys made as a container's. */
  const mountPaths = memo(async () => {
    const out = new Map<string, string>();
    for (const s of registry.stacks) for (const m of (await s.ext.cacheMounts?.(registry.ctx)) ?? []) out.set(cacheMountHostPath(cacheRoot, s.name, m), m.container);
    return out;
  });
  const containerEnv = (env: Record<string, string>, mounts: Map<string, string>) => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) out[k] = mounts.get(v) ?? v;
    return out;
  };
  // --- end of the in-image keying ---

  /** What every key of a run shares: the tree, and the stacks' (or the image's) fingerprints. */
  interface Shared {
    files: FileDigests;
    extension: Map<string, string>;
    image?: string;
    kind: "host" | "container";
    mounts?: Map<string, string>;
  }
  const shared = async (stacks: Iterable<string>, runner: Runner): Promise<Shared> => {
    const names = [...new Set(stacks)];
    // Start the fingerprint reads before the tree is hashed.
    const extension = names.map(stackFingerprint);
    const kind = await kindOf(runner);
    const image = kind === "container" ? imageFingerprint() : undefined;
    // Awaited below once the tree is in; a failing tree hash must not leave them unhandled.
    for (const p of extension) p.catch(() => {});
    image?.catch(() => {});
    const files = await tree();
    const hashes = await Promise.all(extension);
    const mounts = kind === "container" && runner.kind === "host" ? await mountPaths() : undefined;
    return { files, extension: new Map(names.map((n, i) => [n, hashes[i]!])), image: image && (await image), kind, mounts };
  };
  /** What each task's key saw of the tree (its input prefixes and their digest), checked again before storing. */
  const treeSeen = new Map<string, { inputs: string[] | undefined; digest: string }>();
  const keyOf = (t: PreparedTask, runner: Runner, s: Shared): string => {
    const action = t.action!;
    const inputs = t.stack.ext.taskInputs?.(t.task.ref, registry.ctx);
    const environment = s.image !== undefined ? `image:${s.image}` : `tool:${tool(action.program, t.cwd, t.env.PATH ?? process.env.PATH ?? "")}`;
    const tree = digestOf(s.files, inputs);
    treeSeen.set(`${runner.kind}\0${t.task.id}`, { inputs, digest: tree });
    return taskKey({
      task: t.task.id,
      program: action.program,
      args: action.args,
      env: s.mounts ? containerEnv(t.env, s.mounts) : t.env,
      inherited: inherited[s.kind],
      cwd: relativeCwd(t.cwd),
      runner: s.kind,
      environment,
      extension: s.extension.get(t.stack.name)!,
      tree,
    });
  };
  const keyFor = (t: PreparedTask, runner: Runner) => {
    const id = `${runner.kind}\0${t.task.id}`;
    let k = keys.get(id);
    if (!k) {
      k = shared([t.stack.name], runner).then((s) => keyOf(t, runner, s));
      keys.set(id, k);
    }
    return k;
  };

  /** The stored result under this key, trusted only when it is intact and names this task. */
  const readEntry = (t: PreparedTask, key: string): TaskCacheHit | null => {
    const path = entryPath(cacheRoot, key);
    // One small file: a sync read is cheaper than an async round trip per task. Whatever a
    // container or another process put in its place (FIFO, device, symlink, huge file) is refused.
    const read = readOwnFile(path, READ_CAPS.entry);
    if (read.text === undefined) {
      if (read.refused !== "missing") log.debug(`task cache: ignoring ${path} (${read.refused}); the task runs and rewrites it`);
      return null;
    }
    const entry = parseEntry(read.text, key, t.task.id);
    if (!entry) {
      log.debug(`task cache: ignoring damaged entry ${path}; the task runs and rewrites it`);
      return null;
    }
    // Prune ages entries by last use, not creation.
    touchNow(path);
    return { durationMs: entry.durationMs, output: entry.output };
  };

  const lookupMany = async (tasks: PreparedTask[], runner: Runner): Promise<Map<string, TaskCacheHit>> => {
    const hits = new Map<string, TaskCacheHit>();
    if (tasks.length === 0) return hits;
    let s: Shared;
    try {
      s = await shared(tasks.map((t) => t.stack.name), runner);
    } catch (e) {
      log.debug(`task cache: cannot compute keys: ${(e as Error).message}`);
      return hits;
    }
    // Every key from the same shared inputs, in one pass: no per-task round trips.
    for (const t of tasks) {
      let key: string;
      try {
        key = keyOf(t, runner, s);
      } catch (e) {
        log.debug(`task cache: cannot compute a key for ${t.task.id}: ${(e as Error).message}`);
        continue;
      }
      keys.set(`${runner.kind}\0${t.task.id}`, Promise.resolve(key));
      const hit = readEntry(t, key);
      if (hit) hits.set(t.task.id, hit);
    }
    return hits;
  };

  return {
    keyFor,
    unsetEnv: KEY_EXCLUDED_ENV,
    keyedAs: kindOf,
    lookupMany,
    forget(taskIds) {
      for (const id of taskIds) for (const kind of ["host", "container"]) keys.delete(`${kind}\0${id}`);
    },
    async lookup(t, runner): Promise<TaskCacheHit | null> {
      return (await lookupMany([t], runner)).get(t.task.id) ?? null;
    },
    async store(t, runner, outcome: RunOutcome, replayed = false): Promise<boolean> {
      if (outcome.exitCode !== 0 || outcome.error) return false;
      const endedAt = performance.now();
      const key = await keyFor(t, runner);
      // A file edited while the task ran: the result belongs to neither version of the tree,
      // so storing it under the key of the old one could replay a pass for a failing tree.
      // (A result fetched for this very key ran nowhere here: nothing to check.)
      if (!replayed) {
        const seen = treeSeen.get(`${runner.kind}\0${t.task.id}`);
        if (!seen) return false;
        if (treeDigest(await treeAfter(endedAt), seen.inputs) !== seen.digest) {
          log.debug(`task cache: not storing ${t.task.id}: files it can see changed while it ran`);
          return false;
        }
      }
      const path = entryPath(cacheRoot, key);
      removeStaleTemps(dirname(path));
      const entry: CacheEntry = { version: ENTRY_VERSION, ...storedResult(t, key, outcome), created: new Date().toISOString() };
      writeCacheFile(cacheRoot, path, JSON.stringify(entry));
      return true;
    },
  };
}

/** What a stored result holds, locally or on a remote: its output masked like the terminal's. */
export function storedResult(t: PreparedTask, key: string, outcome: RunOutcome): { key: string; task: string; durationMs: number; output: string } {
  return { key, task: t.task.id, durationMs: Math.round(outcome.durationMs), output: redactText(outcome.output, secretValues(process.env, t.env)) };
}

/** The task cache the verify/run flow opens; none when caching is off for this run. */
export function taskCacheFactory(): TaskCacheFactory {
  return async (ctx) => {
    if (!ctx.enabled || !ctx.prepared) return undefined;
    const local = createTaskCache({ cacheRoot: ctx.cacheRoot, prepared: ctx.prepared });
    // The remote layer (remote-cache.ts) wraps the local cache when one is configured.
    const { loaded, registry } = ctx.prepared;
    if (!loaded.config.cache?.remote && !process.env.DWF_REMOTE_CACHE_URL && !process.env.TURBO_API && !ctx.remote) return local;
    const { resolveRemoteSettings, withRemoteCache } = await import("./remote-cache.ts");
    const remote = resolveRemoteSettings(loaded.config, loaded.path, process.env, ctx.remote);
    if ("off" in remote) {
      if (remote.warn) log.warn(remote.warn);
      else if (ctx.verbose && remote.configured) log.info(`remote cache: off (${remote.off})`);
      return local;
    }
    return withRemoteCache(local, { settings: remote.settings, root: loaded.root, config: loaded.config, registry, verbose: Boolean(ctx.verbose) });
  };
}
