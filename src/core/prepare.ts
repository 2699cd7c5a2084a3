// From arguments to a runnable set of tasks: config → registry → plan → actions with env.
// Shared by every command that runs or shows tasks (verify, <primary>:<selector>, dry-run, ci plan).
import type { CommandRef, ExecutionAction, Extension } from "../sdk/types.ts";
import { loadConfig, type LoadedConfig } from "./config.ts";
import { createContext } from "./context.ts";
import { resolveRegistry, type ActiveStack, type ExtensionSource, type Registry } from "./registry.ts";
import { buildPlan, capabilitySet, expandCommands, notRunnable, supports, type Plan, type Task } from "./plan.ts";
import { KNOWN_SELECTORS, formatRef, parseCommandRef } from "../sdk/command-ref.ts";
import { didYouMean } from "../lib/suggest.ts";
import { UserError } from "../lib/errors.ts";
import { cacheMountHostPath, ENV_NAME, resolveCacheRoot } from "./cache-root.ts";
import {
  dependencySpec,
  lockPath,
  readRecord,
  recordPath,
  runtimeEnvironment,
  staleReason,
  type DependencyStatus,
  type InstallGuard,
} from "./deps.ts";
import { imageFingerprint, type Fingerprint } from "./fingerprint.ts";
import { log } from "../lib/log.ts";
import type { RuntimeKind } from "./runner.ts";
import { realpathSync } from "node:fs";
import { isInside, touchNow } from "../lib/fs.ts";
import { dirname, relative, resolve } from "node:path";
import { CONTAINER_ENV } from "../sdk/image.ts";

/** Profiles used when a project has no devflow.toml (filtered to what the stacks can run). */
export const DEFAULT_TARGETS: Record<string, string[]> = {
  pr: ["fmt:check", "lint:static", "build:debug", "test:unit"],
  main: ["fmt:check", "lint:static", "build:debug", "test:unit", "test:integration"],
  release: ["fmt:check", "lint:static", "build:release", "test:all", "package:artifact"],
};

export interface PreparedTask {
  task: Task;
  stack: ActiveStack;
  action?: ExecutionAction;
  skip?: string;
  /** Env dwf adds for this task: extension env, cache env, action env. */
  env: Record<string, string>;
  /** Absolute host working directory. */
  cwd: string;
  cacheable: boolean;
  /** A `setup:deps` task: the install record it checks and writes, and the lock it holds. */
  install?: InstallGuard;
}

export interface Prepared {
  loaded: LoadedConfig;
  registry: Registry;
  targets: Record<string, string[]>;
  /** True when no devflow.toml was found and defaults were used. */
  implicit: boolean;
  plan: Plan;
  cacheRoot: string;
  tasks: PreparedTask[];
  /** Each stack's installed dependencies (empty unless asked for with `deps`). */
  dependencies?: DependencyStatus[];
  /** The project's image fingerprint, computed on first use and then shared (see loadProject). */
  fingerprint(): Promise<Fingerprint>;
}

interface PrepareOptions {
  cwd: string;
  env?: Record<string, string | undefined>;
  /** The commands the user asked for (profiles are expanded here). */
  commands: CommandRef[];
  runtime: RuntimeKind;
  /**
   * Keep installed dependencies current: `auto` adds a stack's setup:deps before its tasks when
   * the install is missing or out of date. Without `deps`, dependencies are not looked at.
   */
  deps?: { auto: boolean };
  /** The project as loadProject returned it: the caller loaded it once, nothing reloads it. */
  project: Project;
  /**
   * Where extensions' `which()` looks tools up while actions are built. Default: the host
   * PATH. Under the container profile: the image (runtime/tool-probe.ts).
   */
  which?: (program: string) => string | null;
  /** Plan the commands' warm actions (Extension.warmAction) instead of the commands themselves. */
  warm?: boolean;
}

/** A loaded project: config, active stacks, target profiles. */
export type Project = Awaited<ReturnType<typeof loadProject>>;

interface ProjectOptions {
  cwd: string;
  /** The builtin stacks and the external loader (the CLI's wiring). */
  extensions: ExtensionSource;
  config?: string;
  /** An already loaded config (skips reading devflow.toml again). */
  loaded?: LoadedConfig;
  env?: Record<string, string | undefined>;
  runtime?: RuntimeKind;
}

export async function loadProject(opts: ProjectOptions) {
  let loaded = opts.loaded ?? loadConfig({ cwd: opts.cwd, explicit: opts.config });
  // The runtime decides whether untrusted external extensions may run on the host.
  let registry = await resolveRegistry(loaded, createContext(loaded.root, opts.env ?? process.env), {
    profile: opts.runtime,
    source: opts.extensions,
  });
  // Without devflow.toml the root is the git top level; in a monorepo the manifests live in a
  // subfolder, so fall back to the nearest folder from cwd upwards that has a stack.
  if (loaded.path === null && registry.stacks.length === 0) {
    for (let dir = resolve(opts.cwd); dir !== loaded.root && dir !== dirname(dir); dir = dirname(dir)) {
      const here = { ...loaded, root: dir };
      const found = await resolveRegistry(here, createContext(dir, opts.env ?? process.env), {
        profile: opts.runtime,
        source: opts.extensions,
      });
      if (found.stacks.length > 0) {
        loaded = here;
        registry = found;
        break;
      }
    }
  }
  const implicit = loaded.path === null;
  let targets = loaded.config.targets ?? {};
  if (implicit) {
    targets = {};
    for (const [name, list] of Object.entries(DEFAULT_TARGETS)) {
      targets[name] = list.filter((raw) => {
        const [primary, selector] = raw.split(":") as [string, string];
        return registry.stacks.some((s) => supports(s.capabilities, { primary, selector }));
      });
    }
  }
  // The image fingerprint of this project, once per load: runtime selection, the container
  // runner, install records and task-cache keys all ask this one (a run reads its inputs once).
  let fingerprint: Promise<Fingerprint> | undefined;
  const root = loaded.root;
  const config = loaded.config;
  const stacks = registry;
  return { loaded, registry, targets, implicit, fingerprint: () => (fingerprint ??= imageFingerprint(stacks, config, root)) };
}

export async function prepare(opts: PrepareOptions): Promise<Prepared> {
  const env = opts.env ?? process.env;
  const project = opts.project;
  const { loaded, targets, implicit, fingerprint } = project;
  // A fresh context for the actions when tools are looked up elsewhere: extensions may memoise
  // per context, and what they saw while detecting came from the host.
  const registry = opts.which ? { ...project.registry, ctx: createContext(project.registry.ctx.root, env, opts.which) } : project.registry;
  const file = loaded.path ?? "the built-in defaults (no devflow.toml found)";
  if (registry.stacks.length === 0) {
    throw new UserError(
      loaded.path
        ? `${loaded.path}: no stack is enabled: set [project] stack = [...] or add a stack manifest to ${loaded.root}.`
        : `no devflow.toml found from ${opts.cwd} upwards, and no known stack detected in ${loaded.root}.`,
      "Run 'dwf init' to create a devflow.toml, or see 'dwf --help'.",
    );
  }
  const commands = expandCommands(opts.commands, targets, file);
  const where = (ref: CommandRef) => {
    for (const [profile, list] of Object.entries(targets)) {
      const i = list.findIndex((raw) => raw === formatRef(ref) || raw === ref.primary);
      if (i >= 0) return `${file}: targets.${profile}[${i}]`;
    }
    return `command '${formatRef(ref)}'`;
  };
  // Validate every profile, not just the one running: a typo in `main` should not wait for CI.
  const checked = new Set<string>();
  for (const [profile, list] of Object.entries(targets)) {
    list.forEach((raw, i) => {
      const ref = parseCommandRef(raw, `${file}: targets.${profile}[${i}]`);
      if (ref.primary === "check") return;
      checkSelector(ref, registry.stacks, () => `${file}: targets.${profile}[${i}]`);
      if (!registry.stacks.some((s) => supports(s.capabilities, ref)))
        throw notRunnable(`${file}: targets.${profile}[${i}]`, raw, registry.stacks);
      checked.add(formatRef(ref));
    });
  }
  for (const ref of commands) if (!checked.has(formatRef(ref))) checkSelector(ref, registry.stacks, where);
  const plan = buildPlan(commands, registry.stacks, where);
  const cacheRoot = resolveCacheRoot(loaded.root, loaded.config, env, loaded.path ?? undefined);
  const byName = new Map(registry.stacks.map((s) => [s.name, s]));
  // One stack's env and cache directories are the same for all its tasks: ask once.
  const stackEnv = new Map<string, Promise<Record<string, string>>>();
  const envOf = (stack: ActiveStack) => {
    let e = stackEnv.get(stack.name);
    if (!e) stackEnv.set(stack.name, (e = extensionEnv(stack.ext, registry, cacheRoot, opts.runtime)));
    return e;
  };
  const tasks: PreparedTask[] = [];
  for (const task of plan.tasks) {
    const stack = byName.get(task.stack)!;
    tasks.push(await prepareTask(task, stack, registry, () => envOf(stack), opts.warm));
  }
  const dependencies = opts.deps
    ? await planInstalls({
        plan,
        tasks,
        registry,
        cacheRoot,
        runtime: opts.runtime,
        auto: opts.deps.auto,
        envOf,
        fingerprint,
        warm: opts.warm,
      })
    : [];
  return { loaded, registry, targets, implicit, plan, cacheRoot, tasks, dependencies, fingerprint };
}

const SETUP_DEPS: CommandRef = { primary: "setup", selector: "deps" };

/**
 * For every stack with tasks that need its dependencies: check the install record, and when the
 * install is missing or out of date put the stack's setup:deps first (auto) or say so (not auto).
 * An explicit setup:deps task always runs, and records what it installed.
 */
async function planInstalls(p: {
  plan: Plan;
  tasks: PreparedTask[];
  registry: Registry;
  cacheRoot: string;
  runtime: RuntimeKind;
  auto: boolean;
  envOf: (stack: ActiveStack) => Promise<Record<string, string>>;
  warm?: boolean;
  fingerprint: () => Promise<Fingerprint>;
}): Promise<DependencyStatus[]> {
  const root = p.registry.ctx.root;
  const statuses: DependencyStatus[] = [];
  let environment: Promise<string> | undefined;
  const environmentId = () => (environment ??= runtimeEnvironment(p.runtime, async () => (await p.fingerprint()).hash, p.registry.ctx.env));
  const added: PreparedTask[] = [];
  for (const stack of p.registry.stacks) {
    const mine = p.tasks.filter((t) => t.task.stack === stack.name);
    if (mine.length === 0 || !supports(stack.capabilities, SETUP_DEPS)) continue;
    const spec = await dependencySpec(stack.ext, p.registry.ctx);
    if (!spec) continue;
    const refresh = async (): Promise<string[]> => {
      const changed: string[] = [];
      for (const t of mine) {
        if (t.task.ref.primary === "setup") continue;
        const fresh = await prepareTask(t.task, stack, p.registry, () => p.envOf(stack), p.warm);
        if (JSON.stringify([fresh.action, fresh.skip, fresh.env, fresh.cwd]) === JSON.stringify([t.action, t.skip, t.env, t.cwd])) continue;
        Object.assign(t, { action: fresh.action, skip: fresh.skip, env: fresh.env, cwd: fresh.cwd });
        changed.push(t.task.id);
      }
      return changed;
    };
    const guard = async (automatic: boolean): Promise<InstallGuard> => ({
      stack: stack.name,
      ext: stack.ext,
      ctx: p.registry.ctx,
      root,
      cacheRoot: p.cacheRoot,
      spec,
      environment: await environmentId(),
      recordPath: recordPath(p.cacheRoot, root, stack.name),
      lockPath: lockPath(p.cacheRoot, root, stack.name),
      automatic,
      refresh,
    });
    const status = { stack: stack.name, inputs: spec.inputs, paths: spec.paths };
    const explicit = mine.find((t) => t.task.ref.primary === "setup" && t.task.ref.selector === "deps");
    if (explicit) {
      if (explicit.action) explicit.install = await guard(false);
      statuses.push({ ...status, install: explicit.action !== undefined, reason: explicit.action ? "requested" : undefined });
      continue;
    }
    const needing = mine.filter((t) => t.action && t.task.ref.primary !== "setup");
    if (needing.length === 0) continue;
    const record = recordPath(p.cacheRoot, root, stack.name);
    const reason = staleReason(root, spec, readRecord(record, stack.name), await environmentId());
    // `dwf cache prune` ages entries by last use: a record that keeps a tree's install current is in use.
    if (!reason) touchNow(record);
    if (!reason || !p.auto) {
      statuses.push({ ...status, install: false, reason, ...(p.auto ? {} : { disabled: true }) });
      continue;
    }
    const task: Task = { id: `setup:deps@${stack.name}`, ref: SETUP_DEPS, stack: stack.name, deps: [], exclusive: false, reason };
    const install = await prepareTask(task, stack, p.registry, () => p.envOf(stack));
    if (!install.action) {
      log.debug(`dependencies: ${stack.name} would install (${reason}), but its setup:deps is skipped: ${install.skip}`);
      statuses.push({ ...status, install: false, reason, skipped: install.skip });
      continue;
    }
    install.install = await guard(true);
    // First among the edges: a failed install is what a blocked task names, not a task it blocked.
    for (const t of mine) if (t.task.ref.primary !== "setup") t.task.deps.unshift(task.id);
    added.push(install);
    statuses.push({ ...status, install: true, reason });
  }
  // Installs come first in the plan, as they do in the run.
  p.plan.tasks.unshift(...added.map((t) => t.task));
  p.tasks.unshift(...added);
  return statuses;
}

/** Env an extension contributes: its own variables plus its cache directories. */
export async function extensionEnv(
  ext: Extension,
  registry: Registry,
  cacheRoot: string,
  runtime: RuntimeKind,
): Promise<Record<string, string>> {
  // A container task's env never depends on the host's: the extension sees the container's
  // fixed environment (CONTAINER_ENV), so a laptop and a CI job give it the same env and key.
  const ctx = runtime === "container" ? { ...registry.ctx, env: { ...CONTAINER_ENV } } : registry.ctx;
  const env: Record<string, string> = { ...((await ext.env?.(ctx)) ?? {}) };
  // External extensions name these in --describe: the same rules as an action's env.
  for (const [k, v] of Object.entries(env)) {
    if (!ENV_NAME.test(k))
      throw new UserError(
        `extension '${ext.name}' set env name ${JSON.stringify(k)}, which is not a variable name.`,
        "Env names are letters, digits and '_', not starting with a digit.",
      );
    if (typeof v !== "string" || v.includes("\0"))
      throw new UserError(`extension '${ext.name}' set env ${k} to something other than a string without NUL bytes.`);
  }
  for (const m of (await ext.cacheMounts?.(registry.ctx)) ?? []) {
    const host = cacheMountHostPath(cacheRoot, ext.name, m);
    if (m.env) env[m.env] = runtime === "container" ? m.container : host;
  }
  return env;
}

/** Why a warm task does nothing: the stack has no warm action for the command. */
const NOTHING_TO_WARM = "nothing to warm (its build outputs cover it)";

async function prepareTask(
  task: Task,
  stack: ActiveStack,
  registry: Registry,
  stackEnv: () => Promise<Record<string, string>>,
  warm = false,
): Promise<PreparedTask> {
  const ext = stack.ext;
  // A warm action exists for its side effects on build outputs: never cached. An install
  // (setup:deps, added before the tasks that need it) is itself, not a warm action.
  const warming = warm && task.ref.primary !== "setup";
  const result = warming
    ? ((await ext.warmAction?.(task.ref, registry.ctx)) ?? { skip: NOTHING_TO_WARM })
    : await ext.buildAction(task.ref, registry.ctx);
  const cacheable = warming ? false : ext.cacheable ? ext.cacheable(task.ref) : true;
  const base = { task, stack, cacheable, cwd: registry.ctx.root };
  if ("skip" in result) return { ...base, skip: result.skip, env: {} };
  const action = result.action;
  validateAction(action, ext.name, task);
  const env = { ...(await stackEnv()), ...(action.env ?? {}) };
  const cwd = action.cwd ? resolve(registry.ctx.root, action.cwd) : registry.ctx.root;
  if (action.cwd) checkTaskCwd(registry.ctx.root, cwd, ext.name, task);
  return { ...base, action, env, cwd };
}

/**
 * A selector must be one the core knows or one an active extension lists exactly; bare
 * capabilities ("test") accept any selector, so without this a typo would silently skip.
 */
function checkSelector(ref: CommandRef, stacks: ActiveStack[], where: (ref: CommandRef) => string): void {
  const known = KNOWN_SELECTORS[ref.primary] ?? [];
  if (known.includes(ref.selector)) return;
  const name = formatRef(ref);
  if (stacks.some((s) => capabilitySet(s.capabilities).has(name))) return;
  const exact = stacks.flatMap((s) => s.capabilities).filter((c) => c.startsWith(`${ref.primary}:`));
  const candidates = [...known.map((s) => `${ref.primary}:${s}`), ...exact];
  throw new UserError(
    `${where(ref)}: unknown selector '${ref.selector}' for '${ref.primary}'.${didYouMean(formatRef(ref), candidates)}`,
    `Selectors for ${ref.primary}: ${[...new Set(candidates.map((c) => c.split(":")[1]))].join(", ")}.`,
  );
}

/**
 * An action's working directory must be inside the project by its real path too: a folder
 * that is a symlink (made by a task, or checked in) would otherwise run the task elsewhere.
 */
function checkTaskCwd(root: string, cwd: string, ext: string, task: Task): void {
  let real: string;
  try {
    real = realpathSync(cwd);
  } catch {
    return; // Missing: the runner reports that the task could not start there.
  }
  if (!isInside(realpathSync(root), real)) {
    throw new UserError(
      `extension '${ext}' returned an invalid action for ${formatRef(task.ref)}: 'cwd' ${relative(root, cwd)} leads outside the project (to ${real}) through a symlink.`,
      "Tasks run only inside the project: replace the symlink with a folder, or change the extension's cwd.",
    );
  }
}

/** Actions come from extensions, possibly external ones: check the shape before running anything. */
export function validateAction(action: ExecutionAction, ext: string, task: Task): void {
  const bad = (what: string) => new UserError(`extension '${ext}' returned an invalid action for ${formatRef(task.ref)}: ${what}.`);
  if (typeof action.program !== "string" || action.program.trim() === "") throw bad("'program' must be a non-empty string");
  if (action.program.includes("\0")) throw bad("'program' contains a NUL byte");
  if (!Array.isArray(action.args) || action.args.some((a) => typeof a !== "string")) throw bad("'args' must be an array of strings");
  if (action.args.some((a) => a.includes("\0"))) throw bad("an argument contains a NUL byte");
  for (const [k, v] of Object.entries(action.env ?? {})) {
    if (!ENV_NAME.test(k)) throw bad(`env name ${JSON.stringify(k)} is not a valid variable name`);
    if (typeof v !== "string" || v.includes("\0")) throw bad(`env ${k} must be a string without NUL bytes`);
  }
  if (action.cwd !== undefined) {
    if (typeof action.cwd !== "string" || action.cwd.startsWith("/") || action.cwd.split("/").includes("..")) {
      throw bad("'cwd' must be a path inside the project");
    }
  }
}
