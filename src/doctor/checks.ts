// `dwf doctor`'s findings as plain data: each check says what it found, whether the configured
// profile needs it, and how to fix it. Probes run in parallel with short time limits.
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Config, LoadedConfig } from "../core/config.ts";
import { loadConfig } from "../core/config.ts";
import type { ExtensionSource, Registry } from "../core/registry.ts";
import type { ImageSpec } from "../runtime/image.ts";
import { createContext } from "../core/context.ts";
import type { CommandRef, ToolRequirement } from "../sdk/types.ts";
import { formatRef } from "../sdk/command-ref.ts";
import type { RuntimeKind } from "../core/runner.ts";
import { WORKSPACE, inContainerArgs } from "../sdk/image.ts";
import { loadProject, prepare, type Project } from "../core/prepare.ts";
import { cacheRootRefusal, resolveCacheRoot } from "../core/cache-root.ts";
import { UserError } from "../lib/errors.ts";
import { callBounded } from "../lib/process.ts";
import { requestedProfile, selectRuntime, type ProfileSetting } from "../runtime/select.ts";
import { ENGINE_ORDER, enginesFor, firstLine, probeEngine, requestedEngine, type Engine } from "../runtime/engine.ts";

export type Status = "ok" | "missing" | "failed" | "warning" | "info";

interface Check {
  group: string;
  name: string;
  status: Status;
  detail: string;
  fix?: string;
  /** The configured profile cannot run without it. */
  needed: boolean;
}

export interface DoctorReport {
  ok: boolean;
  profile: ProfileSetting | null;
  runtime: RuntimeKind | null;
  root: string;
  checks: Check[];
}

const TOOL_TIMEOUT_MS = 5000;

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function toolVersion(
  argv: string[],
  root: string,
  env: Record<string, string | undefined>,
  timeoutMs = TOOL_TIMEOUT_MS,
): Promise<{ ok: boolean; text: string }> {
  try {
    const r = await callBounded(argv, { cwd: root, timeoutMs, env, maxBytes: 64 * 1024 });
    const text = firstLine(r.stdout) || firstLine(r.stderr);
    return { ok: r.exitCode === 0, text: text || `exit code ${r.exitCode}` };
  } catch (e) {
    return { ok: false, text: message(e) };
  }
}

async function engineChecks(
  config: Config,
  env: Record<string, string | undefined>,
  needEngine: boolean,
): Promise<{ checks: Check[]; picked: Engine | null }> {
  const checks: Check[] = [];
  const { setting, source } = requestedEngine(config, env);
  const names = ENGINE_ORDER;
  const probes = await Promise.all(names.map((n) => probeEngine(n, env)));
  // findEngine's pick, from these probes rather than probing again: auto tries podman then
  // docker, an explicit engine only itself; the first that answers wins.
  let picked: Engine | null = null;
  for (const name of enginesFor(setting)) {
    const p = probes[names.indexOf(name)]!;
    if (p.ok) {
      picked = p.engine;
      break;
    }
  }
  names.forEach((name, i) => {
    const p = probes[i]!;
    const chosen = picked?.name === name;
    const wanted = setting === name || (setting === "auto" && chosen);
    if (p.ok)
      checks.push({
        group: "container engine",
        name,
        status: "ok",
        detail: `${p.engine.path}, answers${p.engine.rootless ? ", rootless" : ""}${chosen ? ` (${setting === "auto" ? "auto picks this one" : `chosen by ${source}`})` : ""}`,
        needed: needEngine && wanted,
      });
    else {
      const notInstalled = p.reason.includes("not found on PATH");
      checks.push({
        group: "container engine",
        name,
        status: setting === name && needEngine ? "failed" : notInstalled ? "info" : "warning",
        detail: notInstalled ? "not installed" : p.reason,
        fix: notInstalled ? `install ${name} (your OS packages)` : `check that '${name} info' works (is the daemon/service running?)`,
        needed: needEngine && setting === name,
      });
    }
  });
  if (!picked && needEngine) {
    checks.push({
      group: "container engine",
      name: setting === "auto" ? "auto" : setting,
      status: "failed",
      detail: "no usable container engine for the container profile",
      fix: "install podman or Docker, or use --profile host",
      needed: true,
    });
  } else if (setting === "auto") {
    checks.push({
      group: "container engine",
      name: "auto picks",
      status: picked ? "ok" : "info",
      detail: picked ? picked.name : "none (tasks run on the host)",
      needed: false,
    });
  }
  return { checks, picked };
}

/**
 * Whether dwf could create and write the cache root: probe the nearest existing ancestor with a
 * real temp dir, since access() passes for root on read-only places and for a file in the way.
 */
function writableDir(path: string): boolean {
  let dir = path;
  while (!existsSync(dir)) {
    const up = dirname(dir);
    if (up === dir) return false;
    dir = up;
  }
  try {
    if (!statSync(dir).isDirectory()) return false;
    rmSync(mkdtempSync(join(dir, ".dwf-doctor-")), { recursive: true, force: true });
    return true;
  } catch {
    return false;
  }
}

export async function runDoctor(opts: {
  cwd: string;
  config?: string;
  profile?: string;
  target?: string;
  env?: Record<string, string | undefined>;
  extensions: ExtensionSource;
}): Promise<DoctorReport> {
  const env = opts.env ?? process.env;
  const checks: Check[] = [];
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig({ cwd: opts.cwd, explicit: opts.config });
    checks.push({
      group: "project",
      name: "config",
      status: loaded.path ? "ok" : "info",
      detail: loaded.path ? `${loaded.path} is valid` : "no devflow.toml (defaults apply)",
      fix: loaded.path ? undefined : "run 'dwf init'",
      needed: false,
    });
  } catch (e) {
    checks.push({
      group: "project",
      name: "config",
      status: "failed",
      detail: message(e),
      fix: e instanceof UserError ? e.hint : undefined,
      needed: true,
    });
    return { ok: false, profile: null, runtime: null, root: opts.cwd, checks };
  }
  let profile: ProfileSetting;
  try {
    profile = requestedProfile(opts.profile, loaded.config, env);
  } catch (e) {
    checks.push({ group: "project", name: "profile", status: "failed", detail: message(e), needed: true });
    return { ok: false, profile: null, runtime: null, root: loaded.root, checks };
  }
  const engines = await engineChecks(loaded.config, env, profile === "container");
  let runtime: RuntimeKind = profile === "host" ? "host" : profile === "container" ? "container" : engines.picked ? "container" : "host";
  let why = "";
  if (profile === "auto" && engines.picked) {
    // auto's own decision, as a dry run makes it (nothing is pulled or built): an engine alone
    // does not mean the container, e.g. when the image cannot be had.
    try {
      const choice = await selectRuntime({ profile, loaded, cwd: opts.cwd, env, dryRun: true, extensions: opts.extensions });
      runtime = choice.kind;
      if (choice.note) why = ` (${choice.note.replace(/^auto: /, "").replace(/; running on the host$/, "")})`;
    } catch (e) {
      checks.push({
        group: "project",
        name: "runtime",
        status: "failed",
        detail: message(e),
        fix: e instanceof UserError ? e.hint : undefined,
        needed: true,
      });
    }
  }
  checks.push({
    group: "project",
    name: "runtime",
    status: "info",
    detail: `profile ${profile} → tasks run ${runtime === "host" ? "on the host" : "in a container"}${why}`,
    needed: false,
  });

  let registry: Registry | null = null;
  let project: Project | null = null;
  try {
    project = await loadProject({ cwd: opts.cwd, loaded, env, runtime, extensions: opts.extensions });
    registry = project.registry;
  } catch (e) {
    checks.push({
      group: "extensions",
      name: "stacks",
      status: "failed",
      detail: message(e),
      fix: e instanceof UserError ? e.hint : undefined,
      needed: true,
    });
  }
  // What the profile runs, so a tool is "needed" exactly when one of its tasks runs it.
  const target = opts.target ?? "pr";
  let planned: Map<string, CommandRef[]> | null = null;
  if (project && registry && registry.stacks.length > 0 && opts.target === undefined && !Object.hasOwn(project.targets, target)) {
    // Nothing to plan unless asked: tools are then judged by what the extensions call optional.
    checks.push({
      group: "project",
      name: "targets",
      status: "info",
      detail: `no '${target}' profile under [targets]; name one to check its tools ('dwf doctor <profile>')`,
      needed: false,
    });
  } else if (project && registry && registry.stacks.length > 0) {
    try {
      const prepared = await prepare({ cwd: opts.cwd, project, env, commands: [{ primary: "check", selector: target }], runtime });
      planned = new Map();
      for (const t of prepared.tasks) if (t.action) planned.set(t.task.stack, [...(planned.get(t.task.stack) ?? []), t.task.ref]);
      const runs = prepared.tasks.filter((t) => t.action).map((t) => t.task.id);
      checks.push({
        group: "project",
        name: "targets",
        status: "info",
        detail: `'dwf verify${target === "pr" ? "" : ` ${target}`}' runs ${runs.length ? runs.join(", ") : "nothing (every task is skipped)"}`,
        needed: false,
      });
    } catch (e) {
      checks.push({
        group: "project",
        name: "targets",
        status: "failed",
        detail: message(e),
        fix: e instanceof UserError ? e.hint : undefined,
        needed: true,
      });
    }
  }
  if (registry) {
    if (registry.stacks.length === 0)
      checks.push({
        group: "extensions",
        name: "stacks",
        status: "failed",
        detail: `no stack detected in ${loaded.root}`,
        fix: "run 'dwf init' or set [project] stack",
        needed: true,
      });
    for (const s of registry.stacks) {
      checks.push({
        group: "extensions",
        name: s.name,
        status: "ok",
        detail: `${s.external ? "external, discoverable" : "builtin"} (${s.reason}): ${s.capabilities.join(", ")}`,
        needed: false,
      });
    }
    for (const w of registry.warnings)
      checks.push({
        group: "extensions",
        name: "skipped",
        status: "failed",
        detail: w,
        fix: "see the message; set required = true to make it fatal",
        needed: false,
      });
    checks.push(...(await toolChecks(registry, runtime, env, planned)));
  }
  checks.push(...engines.checks);
  if (registry && runtime === "container" && engines.picked) {
    const image = await imageCheck(project!, engines.picked);
    checks.push(image.check);
    if (image.spec && image.present) {
      const inImage = await imageToolChecks(registry, loaded, engines.picked, image.spec, planned, env);
      // The host's copies do not matter when the image's were checked: show those instead.
      const hostGroups = new Set(registry.stacks.map((st) => `stack ${st.name}`));
      checks.splice(0, checks.length, ...checks.filter((c) => !hostGroups.has(c.group)), ...inImage);
    }
  }

  checks.push(cacheRootCheck(loaded, env, registry?.cacheGroups ?? opts.extensions.builtins.map((e) => e.name)));

  const ok = !checks.some((c) => c.needed && (c.status === "failed" || c.status === "missing"));
  return { ok, profile, runtime, root: loaded.root, checks };
}

/** The cache root: one dwf may use (see cache-root.ts), and writable. */
function cacheRootCheck(loaded: LoadedConfig, env: Record<string, string | undefined>, groups: string[]): Check {
  let cacheRoot: string;
  try {
    cacheRoot = resolveCacheRoot(loaded.root, loaded.config, env, loaded.path ?? undefined);
  } catch (e) {
    return {
      group: "project",
      name: "cache root",
      status: "failed",
      detail: message(e),
      fix: e instanceof UserError ? e.hint : undefined,
      needed: true,
    };
  }
  const refused = existsSync(cacheRoot) ? cacheRootRefusal(cacheRoot, groups) : undefined;
  if (refused) return { group: "project", name: "cache root", status: "failed", detail: message(refused), fix: refused.hint, needed: true };
  const writable = writableDir(cacheRoot);
  return {
    group: "project",
    name: "cache root",
    status: writable ? "ok" : "failed",
    detail: `${cacheRoot} ${writable ? "is writable" : "is not writable"}`,
    fix: writable ? undefined : "fix its permissions, or set DWF_CACHE_ROOT / [cache] root",
    needed: true,
  };
}

/**
 * Whether the profile needs a tool: the commands that use it (`usedBy`) against the tasks the
 * profile runs for that stack (none: nothing is needed); without `usedBy`, whatever `optional` says. With no plan (the
 * profile could not be planned; that is its own failed check) every non-optional tool counts.
 */
export function toolNeeded(tool: ToolRequirement, planned: CommandRef[] | undefined | null): boolean {
  if (!planned) return !tool.optional;
  // A stack the profile runs nothing of needs nothing.
  if (planned.length === 0) return false;
  if (!tool.usedBy) return !tool.optional;
  return planned.some((ref) => tool.usedBy!.some((u) => u === ref.primary || u === formatRef(ref)));
}

/** The note after a tool the profile does not need. */
function whyNotNeeded(needed: boolean, tool: ToolRequirement, planned: Map<string, CommandRef[]> | null): string {
  if (needed) return "";
  if (planned) return " (not used by this profile)";
  return tool.optional ? " (optional)" : "";
}

async function toolChecks(
  registry: Registry,
  runtime: RuntimeKind,
  env: Record<string, string | undefined>,
  planned: Map<string, CommandRef[]> | null,
): Promise<Check[]> {
  const jobs: Promise<Check>[] = [];
  for (const s of registry.stacks) {
    for (const tool of (await s.ext.tools?.(registry.ctx)) ?? []) {
      // Under the container profile the image carries the tools; the host's are informative.
      const needed = runtime === "host" && toolNeeded(tool, planned ? (planned.get(s.name) ?? []) : null);
      const unused = runtime === "host" ? whyNotNeeded(needed, tool, planned) : "";
      const program = tool.version[0] ?? tool.name;
      jobs.push(
        (async (): Promise<Check> => {
          const group = `stack ${s.name}`;
          if (!registry.ctx.which(program)) {
            return { group, name: tool.name, status: needed ? "missing" : "info", detail: `not found${unused}`, fix: tool.install, needed };
          }
          const v = await toolVersion(tool.version, registry.ctx.root, env);
          if (!v.ok)
            return {
              group,
              name: tool.name,
              status: needed ? "missing" : "info",
              detail: `'${tool.version.join(" ")}' failed: ${v.text}${unused}`,
              fix: tool.install,
              needed,
            };
          return { group, name: tool.name, status: "ok", detail: v.text, needed };
        })(),
      );
    }
  }
  return Promise.all(jobs);
}

async function imageCheck(project: Project, engine: Engine): Promise<{ check: Check; spec?: ImageSpec; present?: boolean }> {
  try {
    const { imageSpecFor, imageExists } = await import("../runtime/image.ts");
    const spec = await imageSpecFor(project);
    if (await imageExists(engine, spec.ref))
      return {
        spec,
        present: true,
        check: { group: "container engine", name: "image", status: "ok", detail: `${spec.ref} is present`, needed: false },
      };
    const buildable = existsSync(spec.dockerfile);
    return {
      spec,
      present: false,
      check: {
        group: "container engine",
        name: "image",
        status: buildable ? "info" : "warning",
        detail: `${spec.ref} is not present locally${buildable ? `; the first run builds it from ${spec.dockerfile}` : `, and there is no ${spec.dockerfile} to build it`}`,
        fix: buildable
          ? "dwf image build (or just run dwf verify), then 'dwf doctor' checks the tools inside it"
          : "run 'dwf init' to write a Dockerfile.devflow, or push the image where the engine can pull it",
        needed: false,
      },
    };
  } catch (e) {
    return { check: { group: "container engine", name: "image", status: "warning", detail: message(e), needed: false } };
  }
}

const UNIT_SEPARATOR = "\x1f";

/**
 * Runs each argument as a command (its words joined by US) and prints `index<TAB>code<TAB>first
 * line of its output`. Fixed text: the commands arrive only as positional parameters.
 */
const VERSIONS_SCRIPT = [
  "i=0",
  "for spec do",
  `  out=$(IFS="$(printf '\\037')"; set -f; set -- $spec; "$@" 2>&1 </dev/null); code=$?`,
  // The first non-blank line, with shell builtins only (the image may have no sed or head).
  `  printf '%s\\n' "$out" | { first=; while IFS= read -r l; do case $l in *[![:space:]]*) first=$l; break;; esac; done; printf '%s\\t%s\\t%s\\n' "$i" "$code" "$first"; }`,
  "  i=$((i + 1))",
  "done",
].join("\n");

function parseVersions(text: string): Map<number, { code: number; text: string }> {
  const out = new Map<number, { code: number; text: string }>();
  for (const line of text.split("\n")) {
    const m = /^(\d+)\t(\d+)\t(.*)$/.exec(line);
    if (m) out.set(Number(m[1]), { code: Number(m[2]), text: m[3]!.trim() });
  }
  return out;
}

/**
 * Under the container profile the tools that matter are the image's: each stack's tools, as the
 * extension names them with the image's answers to which(), run (their version argv) inside
 * the image the way a task is run, in parallel.
 */
async function imageToolChecks(
  registry: Registry,
  loaded: LoadedConfig,
  engine: Engine,
  spec: ImageSpec,
  planned: Map<string, CommandRef[]> | null,
  env: Record<string, string | undefined>,
): Promise<Check[]> {
  const [{ createToolProbe }, { bindArgs, containerLabels, labelArgs, randomToken, userArgs }] = await Promise.all([
    import("../runtime/tool-probe.ts"),
    import("../runtime/container.ts"),
  ]);
  let cacheRoot: string;
  try {
    cacheRoot = resolveCacheRoot(loaded.root, loaded.config, env, loaded.path ?? undefined);
  } catch (e) {
    // Reported under "cache root"; the tools are looked up once that is fixed.
    return [{ group: "container engine", name: "image tools", status: "warning", detail: `not checked: ${message(e)}`, needed: false }];
  }
  const user = userArgs({ engine: engine.name, rootless: engine.rootless, configured: loaded.config.container?.user });
  // Like a task's containers: a killed doctor's are found and removed by the next run.
  const labels = labelArgs(containerLabels(spec.project, randomToken()));
  const probe = createToolProbe({
    ref: spec.ref,
    fingerprint: spec.fingerprint,
    cacheRoot,
    root: loaded.root,
    env,
    engine: async () => ({ engine, runArgs: [...labels, ...user.args, ...inContainerArgs()] }),
  });
  const toolsOf = async () => {
    const ctx = createContext(loaded.root, env, probe.which);
    const out: { stack: string; tool: ToolRequirement }[] = [];
    for (const s of registry.stacks) for (const tool of (await s.ext.tools?.(ctx)) ?? []) out.push({ stack: s.name, tool });
    return out;
  };
  let tools = await toolsOf();
  if (!probe.settled()) {
    await probe.probe();
    tools = await toolsOf();
  }
  const envArgs = Object.entries(user.env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  // One container runs every version command (argv words joined by US, split back by the script).
  const argv = [
    engine.path,
    "run",
    "--rm",
    ...labels,
    ...user.args,
    ...envArgs,
    ...inContainerArgs(),
    ...bindArgs(loaded.root, WORKSPACE),
    "-w",
    WORKSPACE,
    spec.ref,
  ];
  const specs = tools.map(({ tool }) => tool.version.join(UNIT_SEPARATOR));
  let results: Map<number, { code: number; text: string }>;
  try {
    const r = await callBounded([...argv, "sh", "-c", VERSIONS_SCRIPT, "dwf-doctor", ...specs], {
      cwd: loaded.root,
      timeoutMs: 60_000,
      env,
      maxBytes: 256 * 1024,
    });
    results = parseVersions(r.stdout);
    if (results.size === 0) throw new Error(firstLine(r.stderr) || `exit code ${r.exitCode}`);
  } catch (e) {
    return [
      {
        group: "container engine",
        name: "image tools",
        status: "warning",
        detail: `could not run the tools' version checks in ${spec.ref}: ${message(e)}`,
        needed: false,
      },
    ];
  }
  return tools.map(({ stack, tool }, i): Check => {
    const needed = toolNeeded(tool, planned ? (planned.get(stack) ?? []) : null);
    const group = `stack ${stack} (in the image)`;
    const fix = `add it to ${basename(spec.dockerfile)}, then 'dwf image build'`;
    const unused = whyNotNeeded(needed, tool, planned);
    const v = results.get(i) ?? { code: 1, text: "no answer" };
    if (v.code === 0) return { group, name: tool.name, status: "ok", detail: v.text || "present", needed };
    const detail =
      v.code === 127 && /not found/.test(v.text)
        ? "not in the image"
        : `'${tool.version.join(" ")}' failed in the image: ${v.text || `exit code ${v.code}`}`;
    return { group, name: tool.name, status: needed ? "missing" : "info", detail: `${detail}${unused}`, fix, needed };
  });
}
