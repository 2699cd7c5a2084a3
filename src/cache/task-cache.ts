// The task result cache: a passing task's output stored under a key that covers everything
// its result depends on, so an unchanged task is replayed instead of re-run.
import type { Prepared, PreparedTask } from "../core/prepare.ts";
import type { TaskCache, TaskCacheFactory, TaskCacheHit } from "../core/execute.ts";
import type { Runner, RunOutcome, RuntimeKind } from "../core/runner.ts";
import { treeDigest, type FileDigests } from "./tree-hash.ts";
import { log } from "../lib/log.ts";
import { formatRef } from "../sdk/command-ref.ts";
import { createEntries } from "./entries.ts";
import { createRunInputs } from "./run-inputs.ts";
import { containerEnv, createInImageKeying } from "./in-image.ts";
import { createHostIdentities } from "./host-identity.ts";
import { KEY_EXCLUDED_ENV, type Sharing, taskKey } from "./task-key.ts";

interface TaskCacheOptions {
  cacheRoot: string;
  prepared: Prepared;
  /** --explain: say for each task looked up whether its result is shared, and why. */
  explain?: boolean;
}

export function createTaskCache(opts: TaskCacheOptions): TaskCache & {
  keyFor(t: PreparedTask, runner: Runner): Promise<string>;
  keyedAs(runner: Runner): Promise<RuntimeKind>;
  sharing(t: PreparedTask, runner: Runner): Promise<Sharing>;
} {
  const { cacheRoot, prepared } = opts;
  const root = prepared.loaded.root;
  const config = prepared.loaded.config;
  const registry = prepared.registry;
  const keys = new Map<string, Promise<string>>();

  const { inherited, tree, treeAfter, digestOf, imageFingerprint, stackFingerprint, tool, relativeCwd } = createRunInputs(opts);

  const { kindOf, mountPaths } = createInImageKeying({ cacheRoot, registry, imageFingerprint });

  /** What every key of a run shares: the tree, and the stacks' (or the image's) fingerprints. */
  interface Shared {
    files: FileDigests;
    extension: Map<string, string>;
    image?: string;
    kind: RuntimeKind;
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
  const hostIdentities = createHostIdentities({ cacheRoot, root, registry, inheritedHost: inherited.host });

  /** What each task's key saw of the tree (its input prefixes and their digest), checked again before storing. */
  const treeSeen = new Map<string, { inputs: string[] | undefined; digest: string }>();
  const sharings = new Map<string, Sharing>();
  const keyOf = (t: PreparedTask, runner: Runner, s: Shared): string => {
    const action = t.action!;
    const inputs = t.stack.ext.taskInputs?.(t.task.ref, registry.ctx);
    const host = s.kind === "host" ? hostIdentities.identity(t.task.id) : undefined;
    const portable = host?.portable;
    const environment =
      s.image !== undefined
        ? `image:${s.image}`
        : portable !== undefined
          ? `pin:${portable}`
          : `tool:${tool(action.program, t.cwd, t.env.PATH ?? process.env.PATH ?? "")}`;
    const portableMounts = portable !== undefined ? hostIdentities.portableMounts() : undefined;
    const env = s.mounts ? containerEnv(t.env, s.mounts) : portableMounts ? containerEnv(t.env, portableMounts) : t.env;
    const inheritedPart = portable !== undefined ? hostIdentities.portableInherited : inherited[s.kind];
    const tree = digestOf(s.files, inputs);
    const id = `${runner.kind}\0${t.task.id}`;
    treeSeen.set(id, { inputs, digest: tree });
    let share: Sharing =
      s.kind === "container"
        ? {
            shared: true,
            why:
              runner.kind === "container"
                ? `container image ${s.image!.slice(0, 12)}`
                : `dwf image ${s.image!.slice(0, 12)} (dwf runs inside it)`,
          }
        : { shared: portable !== undefined, why: host?.why ?? "host task" };
    // A key naming this checkout's path would never match on another machine (or would lie there).
    if (share.shared && JSON.stringify([action.program, action.args, env, inheritedPart]).includes(root))
      share = { shared: false, why: `its command or environment names this checkout's path (${root})` };
    sharings.set(id, share);
    return taskKey({
      task: t.task.id,
      program: action.program,
      args: action.args,
      env,
      inherited: inheritedPart,
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
      k = shared([t.stack.name], runner).then(async (s) => {
        await hostIdentities.identifyHost([t], s.kind);
        return keyOf(t, runner, s);
      });
      keys.set(id, k);
    }
    return k;
  };
  const sharing = async (t: PreparedTask, runner: Runner): Promise<Sharing> => {
    await keyFor(t, runner);
    return sharings.get(`${runner.kind}\0${t.task.id}`) ?? { shared: false, why: "no key" };
  };
  const label = (t: PreparedTask) => `${formatRef(t.task.ref)} [${t.stack.name}]`;
  const entries = createEntries({ cacheRoot, root, config, registry });

  const lookupMany = async (tasks: PreparedTask[], runner: Runner): Promise<Map<string, TaskCacheHit>> => {
    const hits = new Map<string, TaskCacheHit>();
    if (tasks.length === 0) return hits;
    let s: Shared;
    try {
      s = await shared(
        tasks.map((t) => t.stack.name),
        runner,
      );
    } catch (e) {
      log.debug(`task cache: cannot compute keys: ${(e as Error).message}`);
      return hits;
    }
    await hostIdentities.identifyHost(tasks, s.kind);
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
      if (opts.explain) {
        const share = sharings.get(`${runner.kind}\0${t.task.id}`)!;
        log.info(`cache: ${label(t)} key ${key.slice(0, 12)}: ${share.shared ? "shared" : "local only"}: ${share.why}`);
      }
      const read = entries.read(t, key);
      const hit = read instanceof Promise ? await read : read;
      if (hit) hits.set(t.task.id, hit);
    }
    return hits;
  };

  return {
    keyFor,
    sharing,
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
      await entries.write(t, key, outcome);
      return true;
    },
  };
}

/** The task cache the verify/run flow opens; none when caching is off for this run. */
export function taskCacheFactory(): TaskCacheFactory {
  return async (ctx) => {
    if (!ctx.enabled || !ctx.prepared) return undefined;
    const local = createTaskCache({ cacheRoot: ctx.cacheRoot, prepared: ctx.prepared, explain: ctx.explain });
    // The remote layer (remote-cache.ts) wraps the local cache when one is configured.
    const { loaded, registry } = ctx.prepared;
    if (!loaded.config.cache?.remote && !process.env.DWF_REMOTE_CACHE_URL && !process.env.TURBO_API && !ctx.remote) return local;
    const [{ resolveRemoteSettings }, { withRemoteCache }] = await Promise.all([
      import("./remote-settings.ts"),
      import("./remote-cache.ts"),
    ]);
    const remote = resolveRemoteSettings(loaded.config, loaded.path, process.env, ctx.remote);
    if ("off" in remote) {
      if (remote.warn) log.warn(remote.warn);
      else if (ctx.verbose && remote.configured) log.info(`remote cache: off (${remote.off})`);
      return local;
    }
    return withRemoteCache(local, {
      settings: remote.settings,
      root: loaded.root,
      config: loaded.config,
      registry,
      verbose: Boolean(ctx.verbose),
    });
  };
}
