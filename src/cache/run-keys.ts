// The task cache's keys: each task's key from the run's shared inputs, whether it may be shared
// with other machines, and what of the tree it saw (checked again before its result is stored).
import type { PreparedTask } from "../core/prepare.ts";
import type { Registry } from "../core/registry.ts";
import type { Runner, RuntimeKind } from "../core/runner.ts";
import type { FileDigests } from "./tree-hash.ts";
import type { RunInputs } from "./run-inputs.ts";
import { containerEnv, type InImageKeying } from "./in-image.ts";
import type { HostIdentities } from "./host-identity.ts";
import { type Sharing, taskKey } from "./task-key.ts";

/** What every key of a run shares: the tree, and the stacks' (or the image's) fingerprints. */
export interface Shared {
  files: FileDigests;
  extension: Map<string, string>;
  image?: string;
  kind: RuntimeKind;
  mounts?: Map<string, string>;
}

interface RunKeys {
  /** The shared part of the keys of these stacks' tasks on this runner. */
  shared(stacks: Iterable<string>, runner: Runner): Promise<Shared>;
  /** A task's key from the shared inputs (host identities found first), remembered for keyFor: lookupMany's one pass. */
  keyOf(t: PreparedTask, runner: Runner, s: Shared): string;
  /** A task's key on its own, computed once per run unless forgotten. */
  keyFor(t: PreparedTask, runner: Runner): Promise<string>;
  /** Whether a task's key means the same on other machines, and why. */
  sharing(t: PreparedTask, runner: Runner): Promise<Sharing>;
  /** The sharing of a key already made (--explain). */
  sharingOf(t: PreparedTask, runner: Runner): Sharing | undefined;
  /** What of the tree a task's key saw, when it was made. */
  seen(t: PreparedTask, runner: Runner): { inputs: string[] | undefined; digest: string } | undefined;
  /** Forget the keys made for these tasks (their actions changed after an install). */
  forget(taskIds: string[]): void;
}

export function createRunKeys(opts: {
  root: string;
  registry: Registry;
  inputs: RunInputs;
  inImage: InImageKeying;
  hostIdentities: HostIdentities;
}): RunKeys {
  const { root, registry, hostIdentities } = opts;
  const { inherited, tree, digestOf, imageFingerprint, stackFingerprint, tool, relativeCwd } = opts.inputs;
  const { kindOf, mountPaths } = opts.inImage;
  const keys = new Map<string, Promise<string>>();

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

  return {
    shared,
    keyOf(t, runner, s) {
      const key = keyOf(t, runner, s);
      keys.set(`${runner.kind}\0${t.task.id}`, Promise.resolve(key));
      return key;
    },
    keyFor,
    sharing,
    sharingOf: (t, runner) => sharings.get(`${runner.kind}\0${t.task.id}`),
    seen: (t, runner) => treeSeen.get(`${runner.kind}\0${t.task.id}`),
    forget(taskIds) {
      for (const id of taskIds) for (const kind of ["host", "container"]) keys.delete(`${kind}\0${id}`);
    },
  };
}
