// `dwf cache info` and `dwf cache prune`: what dwf keeps on disk for this project (cache root,
// task results, labelled images) and removing what went stale. `dwf prune:cache --local` routes here.
import { defineCommand } from "./args.ts";
import { existsSync } from "node:fs";
import { relative } from "node:path";
import { extensionSource } from "../wiring.ts";
import { configArgs } from "./_shared.ts";
import { loadProject } from "../../core/prepare.ts";
import { TASKS_DIR } from "../../cache/entries.ts";
import {
  applyPrune,
  checkPrunableRoot,
  formatBytes,
  parseAge,
  parseImagesJson,
  planImagePrune,
  planPrune,
  scanCacheRoot,
  type CacheItem,
  type ProjectImage,
} from "../../cache/prune.ts";
import { findOnPath } from "../../lib/process.ts";
import { cacheRootRefusal, configMemoPath, resolveCacheRoot, statCachePath } from "../../core/cache-root.ts";
import { remoteCacheConfigured, type Config } from "../../core/config.ts";
import { engineCommand, enginesFor, requestedEngine } from "../../runtime/engine.ts";
import { imageSpecFor, projectName } from "../../runtime/image.ts";
import { EXIT } from "../../lib/errors.ts";
import { log } from "../../lib/log.ts";
import { writeStderr, writeStdout } from "../../lib/out.ts";

interface ProjectState {
  root: string;
  cacheRoot: string;
  project: string;
  /** The current image fingerprint, worked out when first asked (only info and --images need it). */
  fingerprint(): Promise<string | null>;
  groups: Set<string>;
  /** Every stack folder an earlier dwf may have made (recognising its cache root). */
  cacheGroups: string[];
  /** This tree's stat cache and remembered config, relative to the cache root. */
  currentStat: Set<string>;
  config: Config;
  configPath: string | null;
}

async function projectState(cwd: string, config?: string): Promise<ProjectState> {
  const project = await loadProject({ cwd, config, extensions: extensionSource });
  const { loaded } = project;
  const cacheRoot = resolveCacheRoot(loaded.root, loaded.config, process.env, loaded.path ?? undefined);
  let fingerprint: Promise<string | null> | undefined;
  const rel = (path: string) => relative(cacheRoot, path).split("\\").join("/");
  return {
    root: loaded.root,
    cacheRoot,
    project: projectName(loaded.config, loaded.root),
    fingerprint: () =>
      (fingerprint ??= imageSpecFor(project).then(
        (spec) => spec.fingerprint,
        (e) => {
          log.debug(`cache: no current fingerprint: ${(e as Error).message}`);
          return null;
        },
      )),
    groups: new Set(project.registry.stacks.map((s) => s.name)),
    cacheGroups: project.registry.cacheGroups,
    currentStat: new Set([rel(statCachePath(cacheRoot, loaded.root)), rel(configMemoPath(cacheRoot, loaded.root))]),
    config: loaded.config,
    configPath: loaded.path,
  };
}

type ImageList = { engine: string | null; available: boolean; reason?: string; images: ProjectImage[] };

async function listImages(state: ProjectState): Promise<ImageList & { path?: string }> {
  const { setting } = requestedEngine(state.config);
  for (const name of enginesFor(setting)) {
    const path = findOnPath(name, process.env.PATH ?? "");
    if (!path) continue;
    const r = await engineCommand([path, "images", "--filter", `label=dev.devflow.project=${state.project}`, "--format", "json"], {
      timeoutMs: 30_000,
    });
    if (r.code !== 0)
      return {
        engine: name,
        available: false,
        reason: `'${name} images' failed: ${r.stderr.trim().split("\n")[0] || `exit code ${r.code}`}`,
        images: [],
      };
    try {
      return { engine: name, path, available: true, images: parseImagesJson(r.stdout) };
    } catch (e) {
      return { engine: name, available: false, reason: `could not read '${name} images' output: ${(e as Error).message}`, images: [] };
    }
  }
  return {
    engine: null,
    available: false,
    reason: setting === "auto" ? "no container engine (podman or docker) found on PATH" : `'${setting}' was not found on PATH`,
    images: [],
  };
}

function summarise(items: CacheItem[]) {
  const groups = new Map<string, { name: string; bytes: number; lastUsed: number; current: boolean; truncated: boolean }>();
  const tasks = { entries: 0, bytes: 0, statFiles: 0, statBytes: 0 };
  for (const i of items) {
    if (i.kind === "task") {
      tasks.entries++;
      tasks.bytes += i.bytes;
    } else if (i.kind === "stat") {
      tasks.statFiles++;
      tasks.statBytes += i.bytes;
    }
    const g = groups.get(i.group) ?? { name: i.group, bytes: 0, lastUsed: 0, current: false, truncated: false };
    g.bytes += i.bytes;
    g.lastUsed = Math.max(g.lastUsed, i.lastUsedMs);
    g.current ||= i.current;
    g.truncated ||= Boolean(i.truncated);
    groups.set(i.group, g);
  }
  return { groups: [...groups.values()], tasks, total: items.reduce((n, i) => n + i.bytes, 0) };
}

function ago(ms: number): string {
  if (!ms) return "never";
  const s = (Date.now() - ms) / 1000;
  if (s < 90) return "just now";
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

interface RemoteInfo {
  configured: boolean;
  url?: string;
  team?: string;
  mode: "off" | "read" | "readwrite";
  tokenVar?: string;
  answers?: boolean;
  detail: string;
  ms?: number;
}

/** The remote cache's settings and whether its status endpoint answers (within its timeout). */
async function remoteInfo(state: ProjectState): Promise<RemoteInfo> {
  if (!remoteCacheConfigured(state.config)) return { configured: false, mode: "off", detail: "not configured" };
  const [{ resolveRemoteSettings }, { createRemoteClient }] = await Promise.all([
    import("../../cache/remote-settings.ts"),
    import("../../cache/remote-client.ts"),
  ]);
  const r = resolveRemoteSettings(state.config, state.configPath, process.env);
  if ("off" in r)
    return {
      configured: r.configured,
      url: state.config.cache?.remote?.url ?? process.env.DWF_REMOTE_CACHE_URL ?? process.env.TURBO_API,
      mode: "off",
      detail: r.off,
    };
  const s = r.settings;
  const started = performance.now();
  const status = await createRemoteClient(s).status(AbortSignal.timeout(Math.max(s.timeoutMs, 1000)));
  return {
    configured: true,
    url: s.url,
    team: s.team,
    mode: s.mode,
    tokenVar: s.tokenVar,
    answers: status.ok,
    detail: status.detail,
    ms: Math.round(performance.now() - started),
  };
}

const info = defineCommand({
  meta: { name: "info", description: "Show the cache root's size per extension, task cache entries and this project's images" },
  args: { ...configArgs, json: { type: "boolean", description: "Machine-readable output on stdout" } },
  async run({ args }) {
    const state = await projectState(process.cwd(), args.config);
    // A folder dwf would refuse to use is not described as a cache: say why instead.
    const refused = existsSync(state.cacheRoot) ? cacheRootRefusal(state.cacheRoot, state.cacheGroups) : undefined;
    if (refused) throw refused;
    const exists = existsSync(state.cacheRoot);
    const items = exists ? scanCacheRoot(state.cacheRoot, { currentGroups: state.groups, currentStat: state.currentStat }) : [];
    const sum = summarise(items);
    const [images, fingerprint, remote] = await Promise.all([listImages(state), state.fingerprint(), remoteInfo(state)]);
    if (args.json) {
      const out = {
        cacheRoot: state.cacheRoot,
        exists,
        totalBytes: sum.total,
        directories: sum.groups.map((g) => ({
          name: g.name,
          bytes: g.bytes,
          lastUsed: g.lastUsed ? new Date(g.lastUsed).toISOString() : null,
          current: g.current,
          truncated: g.truncated,
        })),
        tasks: sum.tasks,
        project: state.project,
        fingerprint,
        images: {
          engine: images.engine,
          available: images.available,
          reason: images.reason,
          list: images.images.map((i) => ({ ...i, current: i.fingerprint === fingerprint })),
        },
        remote,
      };
      writeStdout(JSON.stringify(out, null, 2) + "\n");
      return EXIT.ok;
    }
    const w = (s: string) => writeStdout(s + "\n");
    w(`Cache root: ${state.cacheRoot}${exists ? `  (${formatBytes(sum.total)})` : "  (not created yet)"}`);
    if (sum.groups.length) {
      const width = Math.max(...sum.groups.map((g) => g.name.length));
      for (const g of sum.groups) {
        const note =
          g.name === TASKS_DIR
            ? `${sum.tasks.entries} task result${sum.tasks.entries === 1 ? "" : "s"}`
            : g.current
              ? "in use by this project"
              : "";
        w(
          `  ${g.name.padEnd(width)}  ${(g.truncated ? "≥" : "") + formatBytes(g.bytes).padStart(9)}  last used ${ago(g.lastUsed).padEnd(12)}  ${note}`.trimEnd(),
        );
      }
    }
    w("");
    if (!remote.configured) w("Remote cache: not configured (see [cache.remote] in the README).");
    else if (remote.mode === "off") w(`Remote cache: ${remote.url ?? "?"}  off: ${remote.detail}.`);
    else
      w(
        `Remote cache: ${remote.url}  team '${remote.team}', ${remote.mode === "read" ? "read-only" : "read-write"}, token from ${remote.tokenVar}: ${remote.answers ? `answers (${remote.detail}, ${remote.ms}ms)` : `does not answer: ${remote.detail}`}.`,
      );
    w("");
    if (!images.available) w(`Images: ${images.reason}.`);
    else if (images.images.length === 0) w(`Images: none built for project '${state.project}' (${images.engine}).`);
    else {
      w(`Images for project '${state.project}' (${images.engine}):`);
      for (const i of images.images) {
        const cur = i.fingerprint !== null && i.fingerprint === fingerprint;
        w(`  ${cur ? "*" : " "} ${i.refs[0] ?? i.id.slice(0, 12)}  ${formatBytes(i.bytes)}${cur ? "  (current)" : ""}`);
      }
    }
    return EXIT.ok;
  },
});

const prune = defineCommand({
  meta: { name: "prune", description: "Remove cache directories, task results and (with --images) images not used recently" },
  args: {
    ...configArgs,
    "older-than": {
      type: "string",
      default: "14d",
      description: "Remove what was not used for this long (default 14d; with --all: everything)",
      valueHint: "age",
    },
    "dry-run": { type: "boolean", alias: ["n"], description: "Show what would be removed; remove nothing" },
    images: { type: "boolean", description: "Also remove this project's images whose fingerprint is not the current one" },
    all: { type: "boolean", description: "Also remove the current stacks' caches (and with --images the current image)" },
    local: { type: "boolean", description: "Accepted for compatibility with 'prune:cache --local'; the cache root is always local" },
    json: { type: "boolean", description: "Machine-readable result on stdout" },
  },
  async run({ args, rawArgs }) {
    const state = await projectState(process.cwd(), args.config);
    const explicitAge = rawArgs.some((a) => a === "--older-than" || a.startsWith("--older-than="));
    const olderThanMs = args.all && !explicitAge ? 0 : parseAge(String(args["older-than"]));
    const dryRun = Boolean(args["dry-run"]);
    const w = (s: string) => (args.json ? writeStderr : writeStdout)(s + "\n");

    let removed: CacheItem[] = [];
    let bytes = 0;
    const errors: string[] = [];
    if (existsSync(state.cacheRoot)) {
      const real = checkPrunableRoot(state.cacheRoot, { home: process.env.HOME, projectRoot: state.root, groups: state.cacheGroups });
      const items = scanCacheRoot(real, { currentGroups: state.groups, currentStat: state.currentStat });
      const plan = planPrune(items, { now: Date.now(), olderThanMs, all: Boolean(args.all) });
      if (dryRun) {
        removed = plan.remove;
        bytes = plan.bytes;
      } else {
        const r = applyPrune(real, plan);
        removed = r.removed;
        bytes = r.bytes;
        errors.push(...r.errors);
      }
    }
    const verb = dryRun ? "would remove" : "removed";
    const tasks = removed.filter((i) => i.kind === "task").length;
    for (const i of removed.filter((i) => i.kind !== "task")) w(`${verb} ${i.rel}  ${formatBytes(i.bytes)}`);
    if (tasks) w(`${verb} ${tasks} task result${tasks === 1 ? "" : "s"}`);

    const imageReport: { ref: string; id: string; fingerprint: string | null; bytes: number; error?: string }[] = [];
    if (args.images) {
      const list = await listImages(state);
      if (!list.available) w(`Images: ${list.reason}; none removed.`);
      else {
        const plan = planImagePrune(list.images, await state.fingerprint(), Boolean(args.all));
        for (const img of plan.remove) {
          const ref = img.refs[0] ?? img.id.slice(0, 12);
          let error: string | undefined;
          if (!dryRun) {
            const r = await engineCommand([list.path!, "rmi", ...(img.refs.length ? img.refs : [img.id])], { timeoutMs: 120_000 });
            if (r.code !== 0) error = r.stderr.trim().split("\n")[0] || `exit code ${r.code}`;
          }
          if (error) errors.push(`image ${ref}: ${error}`);
          else {
            bytes += img.bytes;
            w(`${verb} image ${ref}  ${formatBytes(img.bytes)}`);
          }
          imageReport.push({ ref, id: img.id, fingerprint: img.fingerprint, bytes: img.bytes, ...(error ? { error } : {}) });
        }
        for (const img of plan.keep) w(`kept current image ${img.refs[0] ?? img.id.slice(0, 12)}`);
      }
    }
    for (const e of errors) log.warn(`could not remove ${e}`);
    const nothing = removed.length === 0 && imageReport.length === 0;
    w(nothing ? `Nothing to prune in ${state.cacheRoot}.` : `${dryRun ? "Would reclaim" : "Reclaimed"} ${formatBytes(bytes)}.`);
    if (args.json) {
      writeStdout(
        JSON.stringify(
          {
            cacheRoot: state.cacheRoot,
            dryRun,
            removed: removed.map((i) => ({ path: i.rel, kind: i.kind, bytes: i.bytes })),
            images: imageReport,
            bytes,
            errors,
          },
          null,
          2,
        ) + "\n",
      );
    }
    return errors.length ? EXIT.failed : EXIT.ok;
  },
});

export default defineCommand({
  meta: { name: "cache", description: "Show (info) or clean up (prune) dwf's caches and images" },
  subCommands: { info, prune },
});
