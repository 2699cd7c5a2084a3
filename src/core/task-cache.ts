// The task result cache: a passing task's output stored under a key that covers everything
// its result depends on, so an unchanged task is replayed instead of re-run.
import { readFile, utimes } from "node:fs/promises";
import { writeFileAtomic } from "./safe-write.ts";
import { realpathSync, statSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import type { Prepared, PreparedTask } from "./pipeline.ts";
import type { TaskCache, TaskCacheHit } from "./execute.ts";
import type { RunHooks } from "./run-tasks.ts";
import type { Runner, RunOutcome } from "../runtime/runner.ts";
import { computeFingerprint, fingerprintInputs } from "./fingerprint.ts";
import { findOnPath } from "./context.ts";
import { hashTree, treeDigest, type FileDigests } from "./tree-hash.ts";
import { redactText, secretValues } from "./redact.ts";
import { log } from "../report/log.ts";

export const ENTRY_VERSION = 1;
export const TASKS_DIR = "tasks";

/** Everything a task's result depends on, as plain data; `taskKey` hashes it. */
export interface KeyParts {
  task: string;
  program: string;
  args: string[];
  env: Record<string, string>;
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

export function taskKey(p: KeyParts): string {
  const env = Object.keys(p.env)
    .sort()
    .map((k) => [k, p.env[k]]);
  const canonical = JSON.stringify(["dwf-task-v1", p.task, p.program, p.args, env, p.cwd, p.runner, p.environment, p.extension, p.tree]);
  return new Bun.CryptoHasher("sha256").update(canonical).digest("hex");
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
  const found = program.includes("/") ? findOnPath(isAbsolute(program) ? program : resolve(cwd, program)) : findOnPath(program, pathVar);
  if (!found) return `missing:${program}`;
  try {
    const real = realpathSync(found);
    const st = statSync(real);
    return `${found}\0${real}\0${st.size}\0${st.mtimeMs}`;
  } catch {
    return `unreadable:${found}`;
  }
}

function memo<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

export interface TaskCacheOptions {
  cacheRoot: string;
  prepared: Prepared;
}

export function createTaskCache(opts: TaskCacheOptions): TaskCache & { keyFor(t: PreparedTask, runner: Runner): Promise<string> } {
  const { cacheRoot, prepared } = opts;
  const root = prepared.loaded.root;
  const config = prepared.loaded.config;
  const registry = prepared.registry;
  const keys = new Map<string, Promise<string>>();

  // Hashed once per run, on the first lookup: every task sees the tree as it was when the run began.
  const tree = memo(async (): Promise<FileDigests> => {
    const started = performance.now();
    const { files, stats } = await hashTree(root, { cacheRoot, exclude: [cacheRoot] });
    log.debug(`task cache: hashed ${stats.listed} files (${stats.read} read, ${stats.reused} unchanged) in ${Math.round(performance.now() - started)}ms`);
    return files;
  });
  const wanted = memo(() => fingerprintInputs(registry, config, root));
  const imageFingerprint = memo(async () => (await computeFingerprint(root, await wanted())).hash);
  const stackFingerprints = new Map<string, Promise<string>>();
  const stackFingerprint = (stack: string) => {
    let p = stackFingerprints.get(stack);
    if (!p) {
      p = wanted().then((all) => {
        const mine = new Map([...all].filter(([, from]) => from.includes(stack) || from.includes("config")));
        return computeFingerprint(root, mine).then((f) => f.hash);
      });
      stackFingerprints.set(stack, p);
    }
    return p;
  };

  const computeKey = async (t: PreparedTask, runner: Runner): Promise<string> => {
    const action = t.action!;
    const files = await tree();
    const inputs = t.stack.ext.taskInputs?.(t.task.ref, registry.ctx);
    const environment = runner.kind === "container" ? `image:${await imageFingerprint()}` : `tool:${toolIdentity(action.program, t.cwd, t.env.PATH ?? process.env.PATH ?? "")}`;
    return taskKey({
      task: t.task.id,
      program: action.program,
      args: action.args,
      env: t.env,
      cwd: relative(root, t.cwd),
      runner: runner.kind,
      environment,
      extension: await stackFingerprint(t.stack.name),
      tree: treeDigest(files, inputs),
    });
  };
  const keyFor = (t: PreparedTask, runner: Runner) => {
    const id = `${runner.kind}\0${t.task.id}`;
    let k = keys.get(id);
    if (!k) {
      k = computeKey(t, runner);
      keys.set(id, k);
    }
    return k;
  };

  return {
    keyFor,
    async lookup(t, runner): Promise<TaskCacheHit | null> {
      let key: string;
      try {
        key = await keyFor(t, runner);
      } catch (e) {
        log.debug(`task cache: cannot compute a key for ${t.task.id}: ${(e as Error).message}`);
        return null;
      }
      const path = entryPath(cacheRoot, key);
      let text: string;
      try {
        text = await readFile(path, "utf8");
      } catch {
        return null;
      }
      const entry = parseEntry(text, key, t.task.id);
      if (!entry) {
        log.debug(`task cache: ignoring damaged entry ${path}; the task runs and rewrites it`);
        return null;
      }
      // Prune ages entries by last use, not creation.
      const now = new Date();
      await utimes(path, now, now).catch(() => {});
      return { durationMs: entry.durationMs, output: entry.output };
    },
    async store(t, runner, outcome: RunOutcome): Promise<void> {
      if (outcome.exitCode !== 0 || outcome.error) return;
      const key = await keyFor(t, runner);
      const path = entryPath(cacheRoot, key);
      const entry: CacheEntry = {
        version: ENTRY_VERSION,
        key,
        task: t.task.id,
        durationMs: Math.round(outcome.durationMs),
        // What lands on disk is masked like what lands on the terminal.
        output: redactText(outcome.output, secretValues(process.env, t.env)),
        created: new Date().toISOString(),
      };
      writeFileAtomic(path, JSON.stringify(entry));
    },
  };
}

/** Plug the cache into the verify/run flow; a no-op when caching is off for this run. */
export function installTaskCache(hooks: RunHooks): void {
  hooks.cache = async (ctx) => {
    if (!ctx.enabled || !ctx.prepared) return undefined;
    return createTaskCache({ cacheRoot: ctx.cacheRoot, prepared: ctx.prepared });
  };
}
