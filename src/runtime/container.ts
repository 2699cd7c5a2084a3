// The container runner: each ExecutionAction becomes `<engine> run [--rm] --name … --label …
// <image> <program> <args…>` with the project at /workspace and every active stack's cache
// mounts. Under docker there is no --rm (podman's Docker API loses the exit code with it): dwf
// reads the exit code the engine recorded, then removes the container itself. Containers are
// removed by name on cancel; the labels let a later run remove what a killed dwf left (owner.ts).
import { relative, sep } from "node:path";
import type { Config } from "../core/config.ts";
import type { Prepared, Project } from "../core/prepare.ts";
import type { Registry } from "../core/registry.ts";
import type { Runner, RunOutcome, RunRequest, SharedToolAnswers } from "../core/runner.ts";
import { extensionEnv } from "../core/prepare.ts";
import { DOCKERFILE } from "../core/fingerprint.ts";
import { cacheMountHostPath, ensureCacheRoot, ensureMountSource } from "../core/cache-root.ts";
import { isSecretName } from "../lib/redact.ts";
import { UserError } from "../lib/errors.ts";
import { spawnTracked, type SpawnedProcess } from "./host.ts";
import { childEnv } from "../lib/process.ts";
import {
  containerExit,
  removeContainers,
  resolveEngine,
  trustsAutoRemove,
  type ContainerEnd,
  type Engine,
  type EngineName,
} from "./engine.ts";
import { ownerLabels, sweepOrphans } from "./owner.ts";
import { log } from "../lib/log.ts";
import { ensureImage, imageSpecFor, projectName, slug, type ImageSpec } from "./image.ts";
import { createToolProbe } from "./tool-probe.ts";
import { CONTAINER_ENV, WORKSPACE, inContainerArgs } from "../sdk/image.ts";

export { WORKSPACE };

interface Mount {
  host: string;
  container: string;
}

interface ProxySpec {
  /** Engine CLI (path or name). */
  engine: string;
  name: string;
  /** `--rm`: the engine removes the container when it exits (only where the exit code survives it). */
  autoRemove?: boolean;
  /** Container labels: the project, the run and the owning dwf process. */
  labels?: Record<string, string>;
  /** Host project root, mounted at /workspace. */
  workspace: string;
  /** Working directory inside the container. */
  workdir: string;
  mounts: Mount[];
  env: Record<string, string>;
  /** The environment the engine process inherits (decides which values can travel through it). */
  engineEnv?: Record<string, string | undefined>;
  /** User mapping flags (see userArgs). */
  user: string[];
  interactive?: boolean;
  tty?: boolean;
  image: string;
  program: string;
  args: string[];
}

/** The full engine argv for one action. Pure: the same spec always gives the same argv. */
export function buildProxyArgs(spec: ProxySpec): string[] {
  return buildProxyCall(spec).argv;
}

/**
 * The engine argv for one action, and the variables to add to the engine process's own
 * environment. Env values never go on the command line (where `ps` shows them to every user):
 * the argv says `-e NAME` and the engine copies the value from its environment. Only a
 * variable the engine itself would read (HOME, PATH, DOCKER_*, …) or that dwf's environment
 * holds with another value goes as `-e NAME=value`, since adding it to the engine's
 * environment would change how the engine runs; a secret there is refused.
 */
export function buildProxyCall(spec: ProxySpec): { argv: string[]; env: Record<string, string> } {
  const argv = [spec.engine, "run", ...(spec.autoRemove ? ["--rm"] : []), "--name", spec.name];
  argv.push(...labelArgs(spec.labels ?? {}));
  argv.push(...bindArgs(spec.workspace, WORKSPACE), "-w", spec.workdir);
  for (const m of spec.mounts) argv.push(...bindArgs(m.host, m.container));
  const env = envArgs(spec.env, spec.engineEnv ?? {});
  argv.push(...env.args);
  argv.push(...spec.user);
  if (spec.interactive) argv.push("-i");
  if (spec.tty) argv.push("-t");
  argv.push(spec.image, spec.program, ...spec.args);
  return { argv, env: env.viaEnv };
}

/** Variables podman and docker (and the Go runtime they are built with) read themselves. */
const ENGINE_OWN = new Set([
  "HOME",
  "PATH",
  "USER",
  "LOGNAME",
  "SHELL",
  "TMPDIR",
  "TMP",
  "TEMP",
  "TERM",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "ALL_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "all_proxy",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "GODEBUG",
  "GOGC",
  "GOMAXPROCS",
  "GOMEMLIMIT",
  "GOTRACEBACK",
  "DBUS_SESSION_BUS_ADDRESS",
  "NOTIFY_SOCKET",
]);
const ENGINE_OWN_PREFIXES = [
  "DOCKER_",
  "CONTAINERS_",
  "_CONTAINERS_",
  "CONTAINER_",
  "PODMAN_",
  "BUILDAH_",
  "BUILDKIT_",
  "REGISTRY_",
  "REGISTRIES_",
  "STORAGE_",
  "XDG_",
  "LD_",
];

function engineReads(name: string): boolean {
  return ENGINE_OWN.has(name) || ENGINE_OWN_PREFIXES.some((p) => name.startsWith(p));
}

/** `-e` flags for the container's env, and the values to hand over through the engine's environment. */
function envArgs(
  env: Record<string, string>,
  engineEnv: Record<string, string | undefined>,
): { args: string[]; viaEnv: Record<string, string> } {
  const args: string[] = [];
  const viaEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (engineEnv[k] === v) {
      args.push("-e", k);
    } else if (engineReads(k) || engineEnv[k] !== undefined) {
      if (isSecretName(k)) {
        throw new UserError(
          `the container's env ${k} looks like a secret, but the container engine reads ${k} itself${engineEnv[k] !== undefined ? " (dwf's environment sets it to another value)" : ""}; dwf passes secrets only through the engine's environment, never its command line.`,
          `Give the variable another name in the task's env (the extension or devflow.toml that sets it).`,
        );
      }
      args.push("-e", `${k}=${v}`);
    } else {
      args.push("-e", k);
      viaEnv[k] = v;
    }
  }
  return { args, viaEnv };
}

/**
 * One bind mount, always as `--mount type=bind,source=…,target=…` (never `-v host:container`,
 * which splits on ':' and takes options after a second one). Fields are CSV, quoted when they
 * hold ',' or '"', so a path can never add a mount option.
 */
export function bindArgs(host: string, container: string): string[] {
  const field = (f: string) => (/[,"\n\r]/.test(f) ? `"${f.replaceAll('"', '""')}"` : f);
  return ["--mount", `type=bind,${field(`source=${host}`)},${field(`target=${container}`)}`];
}

/**
 * How files written to /workspace stay owned by the invoking user: docker and rootful podman
 * run as `--user uid:gid`; rootless podman the same with the user mapped by keep-id (HOME=/tmp
 * for non-root, so tools have somewhere writable); rootless Docker runs as the container's root,
 * which is that user; `[container] user` overrides them all.
 */
export function userArgs(opts: { engine: EngineName; rootless: boolean; configured?: string; uid?: number; gid?: number }): {
  args: string[];
  env: Record<string, string>;
} {
  if (opts.configured) return { args: ["--user", opts.configured], env: {} };
  // Default: the invoking user (0 where the platform has no uids).
  const uid = opts.uid ?? process.getuid?.() ?? 0;
  const gid = opts.gid ?? process.getgid?.() ?? 0;
  // keep-id maps the invoking user to the same ids inside; --user makes the task run as them
  // whatever the image's USER says (`USER 1001` alone would run as 1001 with group 0, both
  // subordinate ids on the host).
  const home: Record<string, string> = uid === 0 ? {} : { HOME: "/tmp" };
  if (opts.engine === "podman" && opts.rootless) return { args: ["--userns=keep-id", "--user", `${uid}:${gid}`], env: home };
  // Rootless Docker: the container's root is the invoking user; any other uid is a subordinate
  // id that cannot write the workspace. Explicit, so an image's USER does not win.
  if (opts.engine === "docker" && opts.rootless) return { args: ["--user", "0:0"], env: {} };
  return { args: ["--user", `${uid}:${gid}`], env: home };
}

/** `dwf-<project>-<task>-<token>`: unique per run and task, recognisable in `ps -a`. */
export function containerName(project: string, taskId: string, token: string): string {
  return `dwf-${slug(project, 30)}-${slug(taskId.replace(/[:@]/g, "-"), 60)}-${token}`;
}

/** Container working directory for a host directory inside the project. */
export function containerWorkdir(root: string, cwd: string): string {
  const rel = relative(root, cwd);
  if (rel === "" || rel.startsWith("..") || rel.startsWith(sep)) return WORKSPACE;
  return `${WORKSPACE}/${rel.split(sep).join("/")}`;
}

interface ContainerSetup {
  mounts: Mount[];
  /** Env of every active stack, with container-side cache paths. */
  env: Record<string, string>;
  /** The active stacks' names (their cache folders' names). */
  groups?: string[];
}

/** All applicable extensions' cache mounts and env in one container (multi-stack projects). */
export async function collectSetup(registry: Registry, cacheRoot: string): Promise<ContainerSetup> {
  const mounts: Mount[] = [];
  const env: Record<string, string> = {};
  for (const s of registry.stacks) {
    for (const m of (await s.ext.cacheMounts?.(registry.ctx)) ?? []) {
      const host = cacheMountHostPath(cacheRoot, s.ext.name, m);
      if (!mounts.some((x) => x.container === m.container)) mounts.push({ host, container: m.container });
    }
    Object.assign(env, await extensionEnv(s.ext, registry, cacheRoot, "container"));
  }
  return { mounts, env, groups: registry.cacheGroups };
}

/** Create every mount source, each proven (symlinks followed) to be inside the cache root. */
export function createMounts(setup: ContainerSetup, cacheRoot: string): void {
  if (setup.mounts.length) ensureCacheRoot(cacheRoot, setup.groups);
  for (const m of setup.mounts) ensureMountSource(cacheRoot, m.host);
}

/** Env every container gets besides the task's own (CONTAINER_ENV): the same whatever the host's environment. */
export function baseEnv(): Record<string, string> {
  return { ...CONTAINER_ENV };
}

export function labelArgs(labels: Record<string, string>): string[] {
  return Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
}

/** Labels of every container a run starts: the project (as on its image), the run, the owning dwf. */
export function containerLabels(project: string, run: string): Record<string, string> {
  return { "dev.devflow.project": project, ...ownerLabels(run) };
}

/** Remove what earlier dwf runs left behind when they were killed; says what it removed. */
export async function removeOrphans(engine: Engine, env: Record<string, string | undefined>): Promise<void> {
  const removed = await sweepOrphans(engine, env);
  if (removed.length)
    log.info(
      `Removed ${removed.length} container${removed.length === 1 ? "" : "s"} left behind by a dwf run that was killed: ${removed.join(", ")}`,
    );
}

/**
 * After the engine CLI has exited, for a container that was not auto-removed: how it really
 * ended. The engine's record of the exit code wins over the CLI's own code.
 */
export async function settleContainer(
  engine: Engine,
  name: string,
  cliCode: number,
  env: Record<string, string | undefined>,
): Promise<ContainerEnd | undefined> {
  if (trustsAutoRemove(engine)) return undefined;
  const end = await containerExit(engine, name, env);
  if (end?.ran && end.exitCode !== cliCode)
    log.debug(`[container] ${engine.name} exited ${cliCode}, but container ${name} exited ${end.exitCode}; using ${end.exitCode}`);
  return end;
}

/**
 * The engine's own words when the action's program could not be started in the image (runc,
 * crun, docker): not found or not executable. A program that started and then exited 127
 * (a script calling a missing command) says none of this.
 */
export function programDidNotStart(output: string): boolean {
  return /executable file (`[^`]*` )?not found|unable to start container process|OCI runtime (create|exec) failed|OCI runtime attempted to invoke a command|: permission denied: OCI|no such file or directory: OCI/i.test(
    output,
  );
}

export function randomToken(): string {
  return Math.random().toString(36).slice(2, 8).padEnd(6, "0");
}

export function createContainerRunner(opts: {
  config: Config;
  root: string;
  env?: Record<string, string | undefined>;
  engine?: Engine;
}): Runner {
  const env = opts.env ?? process.env;
  const token = randomToken();
  const project = projectName(opts.config, opts.root);
  const live = new Set<SpawnedProcess>();
  const names = new Set<string>();
  /** Removals of finished containers (and the orphan sweep) still in flight; close() waits for them. */
  const removing = new Set<Promise<unknown>>();
  const background = (p: Promise<unknown>) => {
    const q = p.finally(() => removing.delete(q));
    removing.add(q);
  };
  let engine = opts.engine;
  let image: ImageSpec | undefined;
  let setup: ContainerSetup = { mounts: [], env: {} };

  const callFor = (req: Omit<RunRequest, "signal">) => {
    const user = userArgs({
      engine: engine?.name ?? "podman",
      rootless: engine?.rootless ?? false,
      configured: opts.config.container?.user,
    });
    return buildProxyCall({
      engine: engine?.path ?? "podman",
      name: containerName(project, req.id, token),
      autoRemove: trustsAutoRemove(engine ?? { name: "podman" }),
      labels: containerLabels(project, token),
      workspace: opts.root,
      workdir: containerWorkdir(opts.root, req.cwd),
      mounts: setup.mounts,
      env: { ...setup.env, ...user.env, ...req.env, ...baseEnv() },
      engineEnv: env,
      user: user.args,
      image: image?.ref ?? "<image>",
      program: req.action.program,
      args: req.action.args,
    });
  };

  // One removal per name at a time: a second `rm -f` while the first is in flight fails at once
  // ("removal already in progress"), and dwf must not exit before the first has finished.
  const inFlight = new Map<string, Promise<unknown>>();
  const remove = async (list: string[]) => {
    if (!engine || list.length === 0) return;
    const fresh = list.filter((n) => !inFlight.has(n));
    if (fresh.length) {
      const p = removeContainers(engine, fresh, env).finally(() => {
        for (const n of fresh) if (inFlight.get(n) === p) inFlight.delete(n);
      });
      for (const n of fresh) inFlight.set(n, p);
    }
    await Promise.all(list.map((n) => inFlight.get(n)));
  };

  let present: boolean | undefined;
  /** The engine (found once); the image spec comes from the project's fingerprint, which asks no engine. */
  const resolve = async (): Promise<Engine> => {
    if (!engine) {
      const resolved = await resolveEngine(opts.config, env, { imageRef: image?.ref });
      present = resolved.imagePresent;
      engine = { name: resolved.name, path: resolved.path, rootless: resolved.rootless };
    }
    return engine;
  };
  let checkEnv: () => void = () => {};
  /**
   * What a task needs before its container can start, done once and only when one will: the
   * engine, the image, and the sweep of killed runs' leftovers. A run whose every task is a cache
   * hit asks the engine nothing.
   */
  let starting: Promise<void> | undefined;
  const start = (): Promise<void> =>
    (starting ??= (async () => {
      const found = await resolve();
      // The env checks again, now with the engine's own user mapping.
      checkEnv();
      // Leftovers of killed runs go while this run works; they never delay its first task.
      background(removeOrphans(found, env));
      await ensureImage(found, image!, { knownPresent: present });
      present = true;
    })());

  return {
    kind: "container",
    // What to show (debug log, --dry-run): the values the engine gets through its environment
    // come first as `env NAME=value …`, so a pasted line runs the same thing (secrets masked).
    commandLine: (req) => {
      const { argv, env: viaEnv } = callFor(req);
      const pairs = Object.entries(viaEnv).map(([k, v]) => `${k}=${v}`);
      return pairs.length ? ["env", ...pairs, ...argv] : argv;
    },
    async toolProbe(p: Project, cacheRoot: string, shared?: SharedToolAnswers) {
      image ??= await imageSpecFor(p);
      const name = containerName(project, "probe", token);
      return createToolProbe({
        ref: image.ref,
        fingerprint: image.fingerprint,
        cacheRoot,
        root: opts.root,
        env,
        shared,
        // Asked only when a name is not remembered for this image: a dry run needs the engine, a run the image too.
        async engine({ ifPresent }) {
          const found = ifPresent ? await resolve() : (await start(), engine!);
          const user = userArgs({ engine: found.name, rootless: found.rootless, configured: opts.config.container?.user });
          return {
            engine: found,
            runArgs: ["--name", name, ...labelArgs(containerLabels(project, token)), ...user.args, ...inContainerArgs()],
          };
        },
      });
    },
    async prepare(prepared: Prepared, { dryRun }) {
      image ??= await imageSpecFor(prepared);
      setup = await collectSetup(prepared.registry, prepared.cacheRoot);
      // Every task's env can be passed (a secret the engine would read itself is refused): known before anything runs.
      checkEnv = () => {
        for (const t of prepared.tasks) if (t.action) callFor({ id: t.task.id, action: t.action, cwd: t.cwd, env: t.env });
      };
      checkEnv();
      // A dry run shows the engine a run would use.
      if (dryRun) return void (await resolve());
      createMounts(setup, prepared.cacheRoot);
    },
    start,
    async run(req: RunRequest): Promise<RunOutcome> {
      // Done once (the executor asks for it before scheduling); here for a caller that did not.
      await start();
      const { argv, env: viaEnv } = callFor(req);
      const name = containerName(project, req.id, token);
      names.add(name);
      // Stopping the engine CLI does not always stop the container (PID 1 ignores SIGTERM):
      // remove it by name as soon as the task is cancelled.
      const onAbort = () => void remove([name]);
      req.signal.addEventListener("abort", onAbort, { once: true });
      let settled = false;
      let end: ContainerEnd | undefined;
      try {
        const outcome = await spawnTracked(argv, {
          cwd: opts.root,
          env: childEnv(viaEnv, env),
          signal: req.signal,
          onOutput: req.onOutput,
          live,
        });
        if (engine && !req.signal.aborted && trustsAutoRemove(engine)) {
          // --rm: the engine removes the container when it ends. An engine CLI killed by a
          // signal may have left it running, so that one is removed below.
          settled = !outcome.error?.startsWith("killed by");
        } else if (engine && !req.signal.aborted) {
          end = await settleContainer(engine, name, outcome.exitCode, env);
          if (end?.ran) {
            outcome.exitCode = end.exitCode;
            if (outcome.error?.startsWith("killed by")) outcome.error = undefined;
          } else if (end && outcome.exitCode === 0) outcome.exitCode = 125; // never started: not a pass
          // The result is known: remove the container in the background (close() waits).
          background(remove([name]));
          settled = true;
        }
        if (!outcome.error && outcome.exitCode === 125)
          outcome.error = `${engine?.name ?? "the engine"} could not start the container (exit code 125; see the output above).`;
        else if (!outcome.error && (outcome.exitCode === 126 || outcome.exitCode === 127) && programDidNotStart(outcome.output)) {
          outcome.error = `'${req.action.program}' could not be run inside image ${image?.ref ?? ""} (exit code ${outcome.exitCode}). Add it to ${opts.config.container?.dockerfile ?? DOCKERFILE} and rebuild.`;
        } else if (!outcome.error && end && !end.ran) {
          outcome.error = `${engine?.name ?? "the engine"} created the container but could not start it (exit code ${outcome.exitCode}; see the output above).`;
        }
        return outcome;
      } finally {
        req.signal.removeEventListener("abort", onAbort);
        // Covers a cancel that raced container creation, and an engine that failed mid-way.
        if (!settled) await remove([name]);
        names.delete(name);
      }
    },
    async stopAll() {
      await remove([...names]);
      for (const p of live) p.kill("SIGTERM");
      await Promise.all(removing);
    },
    async close() {
      await Promise.all(removing);
    },
  };
}
