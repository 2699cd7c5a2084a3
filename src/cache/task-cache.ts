// The task result cache: a passing task's output stored under a key that covers everything
// its result depends on, so an unchanged task is replayed instead of re-run.
// Composed here from one part per job: the run's shared key inputs (run-inputs.ts), keying as a
// container inside the dwf image (in-image.ts), the pinned host-tool identity (host-identity.ts),
// the keys and whether they are shared (run-keys.ts), and the stored entries (entries.ts).
import type { Prepared, PreparedTask } from "../core/prepare.ts";
import { remoteCacheConfigured } from "../core/config.ts";
import type { TaskCache, TaskCacheFactory, TaskCacheHit } from "../core/execute.ts";
import type { Runner, RunOutcome, RuntimeKind } from "../core/runner.ts";
import { treeDigest } from "./tree-hash.ts";
import { log } from "../lib/log.ts";
import { formatRef } from "../sdk/command-ref.ts";
import { createEntries } from "./entries.ts";
import { createRunInputs } from "./run-inputs.ts";
import { createInImageKeying } from "./in-image.ts";
import { createHostIdentities } from "./host-identity.ts";
import { type Shared, createRunKeys } from "./run-keys.ts";
import { KEY_EXCLUDED_ENV, type Sharing } from "./task-key.ts";

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

  const inputs = createRunInputs(opts);
  const inImage = createInImageKeying({ cacheRoot, registry, imageFingerprint: inputs.imageFingerprint });
  const hostIdentities = createHostIdentities({ cacheRoot, root, registry, inheritedHost: inputs.inherited.host });
  const keys = createRunKeys({ root, registry, inputs, inImage, hostIdentities });
  const entries = createEntries({ cacheRoot, root, config, registry });
  const label = (t: PreparedTask) => `${formatRef(t.task.ref)} [${t.stack.name}]`;

  const lookupMany = async (tasks: PreparedTask[], runner: Runner): Promise<Map<string, TaskCacheHit>> => {
    const hits = new Map<string, TaskCacheHit>();
    if (tasks.length === 0) return hits;
    let s: Shared;
    try {
      s = await keys.shared(
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
        key = keys.keyOf(t, runner, s);
      } catch (e) {
        log.debug(`task cache: cannot compute a key for ${t.task.id}: ${(e as Error).message}`);
        continue;
      }
      if (opts.explain) {
        const share = keys.sharingOf(t, runner)!;
        log.info(`cache: ${label(t)} key ${key.slice(0, 12)}: ${share.shared ? "shared" : "local only"}: ${share.why}`);
      }
      const read = entries.read(t, key);
      const hit = read instanceof Promise ? await read : read;
      if (hit) hits.set(t.task.id, hit);
    }
    return hits;
  };

  return {
    keyFor: keys.keyFor,
    sharing: keys.sharing,
    unsetEnv: KEY_EXCLUDED_ENV,
    keyedAs: inImage.kindOf,
    lookupMany,
    forget: keys.forget,
    async lookup(t, runner): Promise<TaskCacheHit | null> {
      return (await lookupMany([t], runner)).get(t.task.id) ?? null;
    },
    async store(t, runner, outcome: RunOutcome, replayed = false): Promise<boolean> {
      if (outcome.exitCode !== 0 || outcome.error) return false;
      const endedAt = performance.now();
      const key = await keys.keyFor(t, runner);
      // A file edited while the task ran: the result belongs to neither version of the tree,
      // so storing it under the key of the old one could replay a pass for a failing tree.
      // (A result fetched for this very key ran nowhere here: nothing to check.)
      if (!replayed) {
        const seen = keys.seen(t, runner);
        if (!seen) return false;
        if (treeDigest(await inputs.treeAfter(endedAt), seen.inputs) !== seen.digest) {
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
    if (!remoteCacheConfigured(loaded.config) && !ctx.remote) return local;
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
