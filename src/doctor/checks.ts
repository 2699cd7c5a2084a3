// `dwf doctor`'s findings as plain data: each check says what it found, whether the configured
// profile needs it, and how to fix it. Probes run in parallel with short time limits.
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Config, LoadedConfig } from "../core/config.ts";
import { loadConfig } from "../core/config.ts";
import { createContext } from "../core/context.ts";
import { resolveRegistry, type Registry } from "../core/registry.ts";
import { cacheRootRefusal, resolveCacheRoot } from "../core/cache-root.ts";
import { UserError } from "../core/errors.ts";
import { callBounded } from "../core/subprocess.ts";
import { requestedProfile, type ProfileSetting } from "../runtime/select.ts";
import { firstLine, probeEngine, requestedEngine, type Engine, type EngineName } from "../runtime/engine.ts";

export type Status = "ok" | "missing" | "failed" | "warning" | "info";

export interface Check {
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
  runtime: "host" | "container" | null;
  root: string;
  checks: Check[];
}

const TOOL_TIMEOUT_MS = 5000;

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function toolVersion(argv: string[], root: string, env: Record<string, string | undefined>): Promise<{ ok: boolean; text: string }> {
  try {
    const r = await callBounded(argv, { cwd: root, timeoutMs: TOOL_TIMEOUT_MS, env, maxBytes: 64 * 1024 });
    const text = firstLine(r.stdout) || firstLine(r.stderr);
    return { ok: r.exitCode === 0, text: text || `exit code ${r.exitCode}` };
  } catch (e) {
    return { ok: false, text: message(e) };
  }
}

async function engineChecks(config: Config, env: Record<string, string | undefined>, needEngine: boolean): Promise<{ checks: Check[]; picked: Engine | null }> {
  const checks: Check[] = [];
  const { setting, source } = requestedEngine(config, env);
  const names: EngineName[] = ["podman", "docker"];
  const probes = await Promise.all(names.map((n) => probeEngine(n, env)));
  // findEngine's pick, from these probes rather than probing again: auto tries podman then
  // docker, an explicit engine only itself; the first that answers wins.
  const order: EngineName[] = setting === "auto" ? ["podman", "docker"] : [setting];
  let picked: Engine | null = null;
  for (const name of order) {
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
    if (p.ok) checks.push({ group: "container engine", name, status: "ok", detail: `${p.engine.path}, answers${chosen ? ` (${setting === "auto" ? "auto picks this one" : `chosen by ${source}`})` : ""}`, needed: needEngine && wanted });
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
    checks.push({ group: "container engine", name: setting === "auto" ? "auto" : setting, status: "failed", detail: "no usable container engine for the container profile", fix: "install podman or Docker, or use --profile host", needed: true });
  } else if (setting === "auto") {
    checks.push({ group: "container engine", name: "auto picks", status: picked ? "ok" : "info", detail: picked ? picked.name : "none (tasks run on the host)", needed: false });
  }
  return { checks, picked };
}

/**
 * Whether dwf could create and write the cache root: probe the nearest existing ancestor with a
 * real temp dir, since access() passes for root on read-only places and for a file in the way.
 */
export function writableDir(path: string): boolean {
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

export async function runDoctor(opts: { cwd: string; config?: string; profile?: string; env?: Record<string, string | undefined> }): Promise<DoctorReport> {
  const env = opts.env ?? process.env;
  const checks: Check[] = [];
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig({ cwd: opts.cwd, explicit: opts.config });
    checks.push({ group: "project", name: "config", status: loaded.path ? "ok" : "info", detail: loaded.path ? `${loaded.path} is valid` : "no devflow.toml (defaults apply)", fix: loaded.path ? undefined : "run 'dwf init'", needed: false });
  } catch (e) {
    checks.push({ group: "project", name: "config", status: "failed", detail: message(e), fix: e instanceof UserError ? e.hint : undefined, needed: true });
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
  const runtime = profile === "host" ? "host" : profile === "container" ? "container" : engines.picked ? "container" : "host";
  checks.push({ group: "project", name: "runtime", status: "info", detail: `profile ${profile} → tasks run ${runtime === "host" ? "on the host" : "in a container"}`, needed: false });

  const ctx = createContext(loaded.root, env);
  let registry: Registry | null = null;
  try {
    registry = await resolveRegistry(loaded, ctx, { profile: runtime });
  } catch (e) {
    checks.push({ group: "extensions", name: "stacks", status: "failed", detail: message(e), fix: e instanceof UserError ? e.hint : undefined, needed: true });
  }
  if (registry) {
    if (registry.stacks.length === 0) checks.push({ group: "extensions", name: "stacks", status: "failed", detail: `no stack detected in ${loaded.root}`, fix: "run 'dwf init' or set [project] stack", needed: true });
    for (const s of registry.stacks) {
      checks.push({ group: "extensions", name: s.name, status: "ok", detail: `${s.external ? "external, discoverable" : "builtin"} (${s.reason}): ${s.capabilities.join(", ")}`, needed: false });
    }
    for (const w of registry.warnings) checks.push({ group: "extensions", name: "skipped", status: "failed", detail: w, fix: "see the message; set required = true to make it fatal", needed: false });
    checks.push(...(await toolChecks(registry, runtime, env)));
  }
  checks.push(...engines.checks);
  if (registry && runtime === "container" && engines.picked) checks.push(await imageCheck(registry, loaded, engines.picked));

  checks.push(cacheRootCheck(loaded, env));

  const ok = !checks.some((c) => c.needed && (c.status === "failed" || c.status === "missing"));
  return { ok, profile, runtime, root: loaded.root, checks };
}

/** The cache root: one dwf may use (see cache-root.ts), and writable. */
function cacheRootCheck(loaded: LoadedConfig, env: Record<string, string | undefined>): Check {
  let cacheRoot: string;
  try {
    cacheRoot = resolveCacheRoot(loaded.root, loaded.config, env, loaded.path ?? undefined);
  } catch (e) {
    return { group: "project", name: "cache root", status: "failed", detail: message(e), fix: e instanceof UserError ? e.hint : undefined, needed: true };
  }
  const refused = existsSync(cacheRoot) ? cacheRootRefusal(cacheRoot) : undefined;
  if (refused) return { group: "project", name: "cache root", status: "failed", detail: message(refused), fix: refused.hint, needed: true };
  const writable = writableDir(cacheRoot);
  return { group: "project", name: "cache root", status: writable ? "ok" : "failed", detail: `${cacheRoot} ${writable ? "is writable" : "is not writable"}`, fix: writable ? undefined : "fix its permissions, or set DWF_CACHE_ROOT / [cache] root", needed: true };
}

async function toolChecks(registry: Registry, runtime: "host" | "container", env: Record<string, string | undefined>): Promise<Check[]> {
  const jobs: Promise<Check>[] = [];
  for (const s of registry.stacks) {
    for (const tool of (await s.ext.tools?.(registry.ctx)) ?? []) {
      // Under the container profile the image carries the tools; the host's are informative.
      const needed = runtime === "host" && !tool.optional;
      const program = tool.version[0] ?? tool.name;
      jobs.push(
        (async (): Promise<Check> => {
          const group = `stack ${s.name}`;
          if (!registry.ctx.which(program)) {
            return { group, name: tool.name, status: needed ? "missing" : "info", detail: `not found${tool.optional ? " (optional)" : ""}`, fix: tool.install, needed };
          }
          const v = await toolVersion(tool.version, registry.ctx.root, env);
          if (!v.ok) return { group, name: tool.name, status: needed ? "missing" : "info", detail: `'${tool.version.join(" ")}' failed: ${v.text}${tool.optional ? " (optional)" : ""}`, fix: tool.install, needed };
          return { group, name: tool.name, status: "ok", detail: v.text, needed };
        })(),
      );
    }
  }
  return Promise.all(jobs);
}

async function imageCheck(registry: Registry, loaded: LoadedConfig, engine: Engine): Promise<Check> {
  try {
    const { imageSpecFor, imageExists } = await import("../runtime/image.ts");
    const spec = await imageSpecFor(registry, loaded.config, loaded.root);
    if (await imageExists(engine, spec.ref)) return { group: "container engine", name: "image", status: "ok", detail: `${spec.ref} is present`, needed: false };
    const buildable = existsSync(spec.dockerfile);
    return {
      group: "container engine",
      name: "image",
      status: buildable ? "info" : "warning",
      detail: `${spec.ref} is not present locally${buildable ? `; the first run builds it from ${spec.dockerfile}` : `, and there is no ${spec.dockerfile} to build it`}`,
      fix: buildable ? "dwf image build (or just run dwf verify)" : "run 'dwf init' to write a Dockerfile.devflow, or push the image where the engine can pull it",
      needed: false,
    };
  } catch (e) {
    return { group: "container engine", name: "image", status: "warning", detail: message(e), needed: false };
  }
}
