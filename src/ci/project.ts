// The edge of the CI feature: read the project (devflow.toml, stacks, profiles) into
// CiSettings, and read/write the generated files (marker check, atomic write, drift).
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { loadProject } from "../core/prepare.ts";
import type { ExtensionSource } from "../core/registry.ts";
import { buildPlan, profileExpander } from "../core/plan.ts";
import { formatRef, parseCommandRef } from "../sdk/command-ref.ts";
import { DEFAULT_CACHE_ROOT } from "../core/cache-root.ts";
import { checkInsideProject, writeFileAtomic } from "../lib/safe-write.ts";
import { UserError } from "../lib/errors.ts";
import { BAKE_FILE, DOCKERFILE, dependencyPart, dockerfileCopySources, imagePlatforms } from "../core/fingerprint.ts";
import { supports } from "../core/plan.ts";
import { repository, VERSION } from "../lib/version.ts";
import type { CiSettings } from "./model.ts";
import { MARKER, RELEASE_ASSET, renderDockerignore, renderWorkflow } from "./github/workflow.ts";
import { assetUrl, releaseTag } from "../release/urls.ts";
import { renderBakeFile } from "./bake.ts";
import { unifiedDiff } from "./diff.ts";

export const DEFAULT_WORKFLOW = ".github/workflows/ci.yml";
export { BAKE_FILE };
const DOCKERIGNORE = ".dockerignore";

interface CiProject {
  root: string;
  configPath: string | null;
  settings: CiSettings;
  /** The Dockerfile the image job builds is missing. */
  dockerfileMissing: boolean;
  /** Build-context sources Dockerfile.devflow copies (for the .dockerignore). */
  copies: string[];
  /** Where each setting came from when it is not obvious (the dwf checksum). */
  sha256From: string;
}

interface CiLoadOptions {
  cwd: string;
  config?: string;
  /** Workflow path, to reuse the checksum it carries for the same dwf version. */
  output?: string;
  /** --dwf-sha256 */
  sha256?: string;
  /** Resolve the dwf checksum (generate and check need it; plan does not). */
  needSha256?: boolean;
  /** The workflow file whose checksum may be reused, when it is not `output` under the root (dwf init renders elsewhere). */
  existingWorkflow?: string;
  env?: Record<string, string | undefined>;
  extensions: ExtensionSource;
}

export async function loadCiProject(opts: CiLoadOptions): Promise<CiProject> {
  const { loaded, registry, targets } = await loadProject({ cwd: opts.cwd, config: opts.config, extensions: opts.extensions });
  const file = loaded.path ?? "the built-in defaults (no devflow.toml found)";
  const cfg = loaded.config;
  if (registry.stacks.length === 0) {
    throw new UserError(
      loaded.path
        ? `${loaded.path}: no stack is enabled, so CI would run nothing.`
        : `no devflow.toml found from ${opts.cwd} upwards, and no known stack detected in ${loaded.root}.`,
      "Run 'dwf init' to create a devflow.toml, or set [project] stack = [...].",
    );
  }
  const profile = cfg.ci?.profile ?? "pr";
  const where = loaded.path ? `${loaded.path}: ${cfg.ci?.profile ? "ci.profile" : "[ci] profile (default 'pr')"}` : file;
  if (!targets[profile]) {
    const names = Object.keys(targets);
    throw new UserError(
      `${where}: no profile '${profile}' under [targets]; CI runs that profile.`,
      names.length
        ? `Set [ci] profile to one of: ${names.join(", ")}.`
        : `Add [targets] ${profile} = ["fmt:check", "lint:static", "test:unit"].`,
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
  // Commands a stack has a warm action for (asked with the project's own view of the tools;
  // `dwf warm` resolves them again in the image when the warm job runs).
  const warmable: string[] = [];
  for (const c of new Set(Object.values(profiles).flat())) {
    const ref = parseCommandRef(c);
    for (const st of registry.stacks) {
      if (!st.ext.warmAction || !supports(st.capabilities, ref)) continue;
      const r = await st.ext.warmAction(ref, registry.ctx);
      if (r && "action" in r) {
        warmable.push(c);
        break;
      }
    }
  }
  const cacheRoot = cfg.cache?.root ?? DEFAULT_CACHE_ROOT;
  const cacheDir = isAbsolute(cacheRoot) ? cacheRoot : relative(loaded.root, resolve(loaded.root, cacheRoot)) || ".";
  const dockerfile = cfg.container?.dockerfile ?? DOCKERFILE;
  const deps = await dependencyPart(registry, loaded.root);
  // A stack that installs into the workspace gets `setup:deps` in the warm job when the profile has no setup command.
  const installs = deps.paths.some((p) => p.kind === "dependencies");
  const setupSupported = registry.stacks.some((st) => supports(st.capabilities, { primary: "setup", selector: "deps" }));
  const hasSetup = (profiles[profile] ?? []).some((c) => c.startsWith("setup:"));
  const dwfVersion = (cfg.ci?.dwf_version ?? VERSION).replace(/^v/, "");
  const workflowPath = opts.existingWorkflow ?? resolve(loaded.root, opts.output ?? DEFAULT_WORKFLOW);
  const sha = opts.needSha256
    ? await resolveSha256({
        flag: opts.sha256,
        config: cfg.ci?.dwf_sha256,
        configFile: loaded.path,
        workflowPath,
        version: dwfVersion,
        env: opts.env ?? process.env,
      })
    : { sha256: "", from: "not needed" };
  const settings: CiSettings = {
    profile,
    profiles,
    mode: cfg.ci?.mode ?? "jobs",
    // auto means "the container when it can be had": on the runner it can.
    runtime: (cfg.runtime?.profile ?? "host") === "host" ? "host" : "container",
    // Both names were checked when devflow.toml was loaded (core/image-name.ts).
    image: cfg.ci?.registry_image ?? cfg.container?.image ?? null,
    platforms: imagePlatforms(cfg),
    dwfVersion,
    dwfSha256: sha.sha256,
    repository: repository(),
    branch: cfg.ci?.branch ?? "main",
    dockerfile,
    cacheDir,
    cachePaths: [...new Set([cacheDir, ...deps.paths.map((p) => p.path)])],
    warmFirst: installs && setupSupported && !hasSetup ? ["setup:deps"] : [],
    warmable: warmable.sort(),
    bakeFile: BAKE_FILE,
  };
  const dockerfileText = readText(resolve(loaded.root, dockerfile)) ?? "";
  return {
    root: loaded.root,
    configPath: loaded.path,
    settings,
    dockerfileMissing: !existsSync(resolve(loaded.root, dockerfile)),
    copies: dockerfileCopySources(dockerfileText),
    sha256From: sha.from,
  };
}

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * The SHA-256 the workflow checks dwf against, in this order: --dwf-sha256, [ci] dwf_sha256,
 * the workflow on disk when it pins the same version (so regenerating needs no network), and
 * last the pinned release's SHA256SUMS, read now, at generate time — never in CI.
 */
async function resolveSha256(o: {
  flag?: string;
  config?: string;
  configFile: string | null;
  workflowPath: string;
  version: string;
  env: Record<string, string | undefined>;
}): Promise<{ sha256: string; from: string }> {
  if (o.flag !== undefined) {
    const v = o.flag.trim().toLowerCase();
    if (!SHA256.test(v))
      throw new UserError(
        `--dwf-sha256: '${o.flag}' is not a SHA-256 (64 hex digits).`,
        `Pass the checksum of ${RELEASE_ASSET} from the release's SHA256SUMS.`,
      );
    return { sha256: v, from: "--dwf-sha256" };
  }
  if (o.config) return { sha256: o.config, from: `${o.configFile}: ci.dwf_sha256` };
  const current = readText(o.workflowPath);
  if (current && isGenerated(current, MARKER)) {
    const version = /^\s*DWF_VERSION:\s*"?([^"\s]+)"?\s*$/m.exec(current)?.[1];
    const sha = /^\s*DWF_SHA256:\s*"?([0-9a-f]{64})"?\s*$/m.exec(current)?.[1];
    if (version === o.version && sha) return { sha256: sha, from: `${o.workflowPath} (same dwf version)` };
  }
  const base = o.env.DWF_DOWNLOAD_BASE || undefined;
  const url = assetUrl({ base, repository: repository(), tag: releaseTag(o.version), asset: "SHA256SUMS" });
  const { fetchBytes } = await import("../release/download.ts");
  const { parseSha256Sums } = await import("../release/checksums.ts");
  const hint = `Pass --dwf-sha256 <hex> or set [ci] dwf_sha256 (the ${RELEASE_ASSET} line of the release's SHA256SUMS), or set [ci] dwf_version to a published release.`;
  const sums = parseSha256Sums(new TextDecoder().decode((await fetchBytes(url, `the checksums of dwf ${o.version}`, hint)).data));
  const sha = sums.get(RELEASE_ASSET);
  if (!sha) throw new UserError(`${url} lists no ${RELEASE_ASSET}.`, hint);
  return { sha256: sha, from: url };
}

interface GeneratedFile {
  /** Absolute path. */
  path: string;
  text: string;
  marker: string;
  /** A hand-written file of this name is the user's to keep (true for the bake file). */
  optional: boolean;
}

export function ciFiles(project: CiProject, output?: string): GeneratedFile[] {
  const workflow = resolve(project.root, output ?? DEFAULT_WORKFLOW);
  const files: GeneratedFile[] = [{ path: workflow, text: renderWorkflow(project.settings), marker: MARKER, optional: false }];
  // A host workflow builds no image.
  if (project.settings.runtime === "container") {
    files.push(
      { path: join(project.root, BAKE_FILE), text: renderBakeFile(project.settings), marker: MARKER, optional: true },
      {
        path: join(project.root, DOCKERIGNORE),
        text: renderDockerignore(project.settings, project.copies),
        marker: MARKER,
        optional: true,
      },
    );
  }
  return files;
}

export function isGenerated(text: string, marker: string): boolean {
  return text.split("\n", 5).some((l) => l.startsWith(marker));
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    // ENOTDIR: a parent is a file, so there is no such file either.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw new UserError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

type WriteOutcome = "created" | "updated" | "unchanged" | "kept";

/** Write one generated file, refusing to replace a file dwf did not write unless forced. */
export function writeGenerated(root: string, f: GeneratedFile, force: boolean, display: string): WriteOutcome {
  checkInsideProject(root, f.path, display);
  const current = readText(f.path);
  if (current === f.text) return "unchanged";
  if (current !== null && !isGenerated(current, f.marker) && !force) {
    if (f.optional) return "kept";
    throw new UserError(
      `${display} exists and was not written by dwf; not overwriting it.`,
      "Move it aside, or pass --force to replace it.",
    );
  }
  writeFileAtomic(f.path, f.text);
  return current === null ? "created" : "updated";
}

interface Drift {
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
    if (current !== f.text)
      out.push({
        display,
        missing: false,
        handWritten: !isGenerated(current, f.marker),
        diff: unifiedDiff(current, f.text, { from: `${display} (on disk)`, to: `${display} (generated)` }),
      });
  }
  return out;
}
