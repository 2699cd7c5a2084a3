// The task result cache: a passing task's output stored under a key that covers everything
// its result depends on, so an unchanged task is replayed instead of re-run.
import { relative } from "node:path";
import type { Prepared, PreparedTask } from "../core/prepare.ts";
import type { TaskCache, TaskCacheFactory, TaskCacheHit } from "../core/execute.ts";
import type { Runner, RunOutcome, RuntimeKind } from "../core/runner.ts";
import { resolveProgram } from "../lib/process.ts";
import { treeDigest, type FileDigests } from "./tree-hash.ts";
import { log } from "../lib/log.ts";
import { formatRef } from "../sdk/command-ref.ts";
import type { ToolPin } from "../sdk/types.ts";
import { cacheMountHostPath } from "../core/cache-root.ts";
import { createEntries } from "./entries.ts";
import { createRunInputs } from "./run-inputs.ts";
import { containerEnv, createInImageKeying } from "./in-image.ts";
import { memo } from "../lib/memo.ts";
import { EXACT_VERSION, KEY_EXCLUDED_ENV, type Sharing, portableInheritedEnv, reportsVersion, taskKey } from "./task-key.ts";

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
  // --- Host tasks with a pinned tool: a portable identity instead of this machine's binary ---
  interface HostIdentity {
    /** The pins with what the tool reports, when every pin is exact and matches. */
    portable?: string;
    why: string;
  }
  const pinned = new Map<string, Promise<HostIdentity>>();
  const hostIdentity = (t: PreparedTask): Promise<HostIdentity> => {
    const program = t.action!.program;
    const pathVar = t.env.PATH ?? process.env.PATH ?? "";
    const id = `${t.stack.name}\0${program}\0${t.cwd}\0${pathVar}`;
    let p = pinned.get(id);
    if (!p) pinned.set(id, (p = identify(t, program, pathVar)));
    return p;
  };
  const identify = async (t: PreparedTask, program: string, pathVar: string): Promise<HostIdentity> => {
    const found = resolveProgram(program, t.cwd, pathVar);
    const shown = found ?? program;
    let pins: ToolPin[] = [];
    try {
      pins = t.stack.ext.toolPins?.(program, registry.ctx) ?? [];
    } catch (e) {
      log.debug(`task cache: ${t.stack.name}: toolPins failed: ${(e as Error).message}`);
    }
    if (pins.length === 0) return { why: `host tool ${shown} is not pinned` };
    if (!found) return { why: `host tool ${program} is not on PATH` };
    const inexact = pins.find((p) => !EXACT_VERSION.test(p.version));
    if (inexact) return { why: `host tool ${shown} is pinned by ${inexact.file} to '${inexact.version}', not an exact version` };
    const { callBounded } = await import("../lib/process.ts");
    const reports = await Promise.all(
      pins.map(async (pin) => {
        try {
          const r = await callBounded(pin.probe, { cwd: root, timeoutMs: 15_000, maxBytes: 64 * 1024, env: { ...process.env, ...t.env } });
          if (r.exitCode !== 0) return undefined;
          const lines = `${r.stdout}\n${r.stderr}`
            .split("\n")
            .map((l) => l.trim())
            .filter(Boolean);
          return (lines.find((l) => reportsVersion(l, pin.version)) ?? lines[0])?.slice(0, 200);
        } catch {
          return undefined;
        }
      }),
    );
    for (const [i, pin] of pins.entries()) {
      const got = reports[i];
      if (got === undefined)
        return { why: `host tool ${shown}: '${pin.probe.join(" ")}' did not report a version (${pin.file} pins ${pin.version})` };
      if (!reportsVersion(got, pin.version)) return { why: `host tool ${shown} reports '${got}', ${pin.file} pins ${pin.version}` };
    }
    return {
      portable: JSON.stringify(pins.map((pin, i) => [pin.file, pin.version, reports[i]])),
      why: `host tool pinned by ${pins.map((pin) => `${pin.file} (${pin.version})`).join(" and ")}`,
    };
  };
  const identities = new Map<string, HostIdentity>();
  /** Host cache folders by a name that is the same on every machine (`$DWF_CACHE_ROOT/<stack>/<path>`). */
  const hostMounts = memo(async () => {
    const out = new Map<string, string>();
    for (const st of registry.stacks) {
      for (const m of (await st.ext.cacheMounts?.(registry.ctx)) ?? []) {
        const host = cacheMountHostPath(cacheRoot, st.name, m);
        out.set(host, `$DWF_CACHE_ROOT/${relative(cacheRoot, host)}`);
      }
    }
    return out;
  });
  let portableMounts: Map<string, string> | undefined;
  const portableInherited = portableInheritedEnv(
    inherited.host,
    registry.stacks.flatMap((st) => st.ext.machineEnv ?? []),
  );
  /** Before keyOf for host keys: each task's tool identity (pins are probed once per tool). */
  const identifyHost = async (tasks: PreparedTask[], s: Shared) => {
    if (s.kind !== "host" || tasks.every((t) => identities.has(t.task.id))) return;
    portableMounts ??= await hostMounts();
    await Promise.all(tasks.map(async (t) => identities.set(t.task.id, await hostIdentity(t))));
  };
  // --- end of the pinned host identity ---

  /** What each task's key saw of the tree (its input prefixes and their digest), checked again before storing. */
  const treeSeen = new Map<string, { inputs: string[] | undefined; digest: string }>();
  const sharings = new Map<string, Sharing>();
  const keyOf = (t: PreparedTask, runner: Runner, s: Shared): string => {
    const action = t.action!;
    const inputs = t.stack.ext.taskInputs?.(t.task.ref, registry.ctx);
    const host = s.kind === "host" ? identities.get(t.task.id) : undefined;
    const portable = host?.portable;
    const environment =
      s.image !== undefined
        ? `image:${s.image}`
        : portable !== undefined
          ? `pin:${portable}`
          : `tool:${tool(action.program, t.cwd, t.env.PATH ?? process.env.PATH ?? "")}`;
    const env = s.mounts
      ? containerEnv(t.env, s.mounts)
      : portable !== undefined && portableMounts
        ? containerEnv(t.env, portableMounts)
        : t.env;
    const inheritedPart = portable !== undefined ? portableInherited : inherited[s.kind];
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
        await identifyHost([t], s);
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
    await identifyHost(tasks, s);
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
