// The edge of the CI feature: read the project (devflow.toml, stacks, profiles) into
// CiSettings, and read/write the generated files (marker check, atomic write, drift).
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { loadProject } from "../core/pipeline.ts";
import { buildPlan, profileExpander } from "../core/plan.ts";
import { formatRef } from "../core/command-ref.ts";
import { DEFAULT_CACHE_ROOT } from "../core/cache-root.ts";
import { checkInsideProject, writeFileAtomic } from "../core/safe-write.ts";
import { UserError } from "../core/errors.ts";
import { DOCKERFILE } from "../core/fingerprint.ts";
import { repository, VERSION } from "../version.ts";
import type { CiSettings } from "./model.ts";
import { MARKER, renderWorkflow } from "./workflow.ts";
import { renderBakeFile } from "./bake.ts";
import { unifiedDiff } from "./diff.ts";

export const DEFAULT_WORKFLOW = ".github/workflows/ci.yml";
export const BAKE_FILE = "docker-bake.hcl";

export interface CiProject {
  root: string;
  configPath: string | null;
  settings: CiSettings;
  /** The Dockerfile the prep job builds is missing. */
  dockerfileMissing: boolean;
}

export async function loadCiProject(opts: { cwd: string; config?: string }): Promise<CiProject> {
  const { loaded, registry, targets } = await loadProject({ cwd: opts.cwd, config: opts.config });
  const file = loaded.path ?? "the built-in defaults (no devflow.toml found)";
  const cfg = loaded.config;
  if (registry.stacks.length === 0) {
    throw new UserError(
      loaded.path ? `${loaded.path}: no stack is enabled, so CI would run nothing.` : `no devflow.toml found from ${opts.cwd} upwards, and no known stack detected in ${loaded.root}.`,
      "Run 'dwf init' to create a devflow.toml, or set [project] stack = [...].",
    );
  }
  const profile = cfg.ci?.profile ?? "pr";
  const where = loaded.path ? `${loaded.path}: ${cfg.ci?.profile ? "ci.profile" : "[ci] profile (default 'pr')"}` : file;
  if (!targets[profile]) {
    const names = Object.keys(targets);
    throw new UserError(
      `${where}: no profile '${profile}' under [targets]; CI runs that profile.`,
      names.length ? `Set [ci] profile to one of: ${names.join(", ")}.` : `Add [targets] ${profile} = ["fmt:check", "lint:static", "test:unit"].`,
    );
  }
  const profiles: Record<string, string[]> = {};
  const expand = profileExpander(targets, file);
  for (const name of Object.keys(targets).sort()) {
    const refs = expand([{ primary: "check", selector: name }]);
    // Fail at generate time, not in CI, when a command has no stack to run it.
    buildPlan(refs, registry.stacks, (ref) => `${file}: targets.${name} ('${formatRef(ref)}')`);
    profiles[name] = refs.map(formatRef);
  }
  const cacheRoot = cfg.cache?.root ?? DEFAULT_CACHE_ROOT;
  const cacheDir = isAbsolute(cacheRoot) ? cacheRoot : relative(loaded.root, resolve(loaded.root, cacheRoot)) || ".";
  const dockerfile = cfg.container?.dockerfile ?? DOCKERFILE;
  const settings: CiSettings = {
    profile,
    profiles,
    mode: cfg.ci?.mode ?? "jobs",
    // Both names were checked when devflow.toml was loaded (core/image-name.ts).
    image: cfg.ci?.registry_image ?? cfg.container?.image ?? null,
    platforms: cfg.ci?.platforms ?? cfg.container?.platforms ?? ["linux/amd64"],
    dwfVersion: (cfg.ci?.dwf_version ?? VERSION).replace(/^v/, ""),
    repository: repository(),
    branch: cfg.ci?.branch ?? "main",
    dockerfile,
    cacheDir,
    bakeFile: BAKE_FILE,
  };
  return { root: loaded.root, configPath: loaded.path, settings, dockerfileMissing: !existsSync(resolve(loaded.root, dockerfile)) };
}

export interface GeneratedFile {
  /** Absolute path. */
  path: string;
  text: string;
  marker: string;
  /** A hand-written file of this name is the user's to keep (true for the bake file). */
  optional: boolean;
}

export function ciFiles(project: CiProject, output?: string): GeneratedFile[] {
  const workflow = resolve(project.root, output ?? DEFAULT_WORKFLOW);
  return [
    { path: workflow, text: renderWorkflow(project.settings), marker: MARKER, optional: false },
    { path: join(project.root, BAKE_FILE), text: renderBakeFile(project.settings), marker: MARKER, optional: true },
  ];
}

export function isGenerated(text: string, marker: string): boolean {
  return text.split("\n", 5).some((l) => l.startsWith(marker));
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new UserError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

export type WriteOutcome = "created" | "updated" | "unchanged" | "kept";

/** Write one generated file, refusing to replace a file dwf did not write unless forced. */
export function writeGenerated(root: string, f: GeneratedFile, force: boolean, display: string): WriteOutcome {
  checkInsideProject(root, f.path, display);
  const current = readText(f.path);
  if (current === f.text) return "unchanged";
  if (current !== null && !isGenerated(current, f.marker) && !force) {
    if (f.optional) return "kept";
    throw new UserError(`${display} exists and was not written by dwf; not overwriting it.`, "Move it aside, or pass --force to replace it.");
  }
  writeFileAtomic(f.path, f.text);
  return current === null ? "created" : "updated";
}

export interface Drift {
  display: string;
  missing: boolean;
  /** On disk without dwf's marker: generate refuses it unless --force. */
  handWritten: boolean;
  diff: string;
}

/** Compare the files on disk with a fresh render. Hand-written optional files are the user's. */
export function checkDrift(files: GeneratedFile[], root: string): Drift[] {
  const out: Drift[] = [];
  for (const f of files) {
    const display = relative(root, f.path) || f.path;
    const current = readText(f.path);
    if (current === null) {
      out.push({ display, missing: true, handWritten: false, diff: "" });
      continue;
    }
    if (f.optional && !isGenerated(current, f.marker)) continue;
    if (current !== f.text) out.push({ display, missing: false, handWritten: !isGenerated(current, f.marker), diff: unifiedDiff(current, f.text, { from: `${display} (on disk)`, to: `${display} (generated)` }) });
  }
  return out;
}
