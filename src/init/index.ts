// `dwf init`: choose stacks, render devflow.toml, Dockerfile.devflow and (from the CI renderer)
// the workflow, check every target, then write them all, or print them for --dry-run.
import type { ExtensionSource } from "../core/registry.ts";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { realpathSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { createContext } from "../core/context.ts";
import { findOnPath } from "../lib/process.ts";
import { ENGINE_ORDER } from "../runtime/engine.ts";
import { CONFIG_FILE } from "../core/config.ts";
import { DOCKERFILE } from "../core/fingerprint.ts";
import { chooseStacks, initTargets } from "./detect.ts";
import { renderConfig, renderDockerfile } from "./render.ts";
import { log } from "../lib/log.ts";
import { checkWritable, writeAllOrNothing, type PlannedFile } from "./write.ts";

interface InitOptions {
  root: string;
  stacks: string[];
  force: boolean;
  dryRun: boolean;
  env: Record<string, string | undefined>;
  /** The stacks dwf init can set up (the builtins) and the external loader, from the CLI. */
  extensions: ExtensionSource;
}

interface InitResult {
  root: string;
  stacks: string[];
  how: "detected" | "named";
  engine: string | null;
  files: PlannedFile[];
  /** Planned files that already exist (the real run refuses them without --force). */
  existing: string[];
  written: string[];
  targets: { pr: string[]; main: string[] };
}

/** The engine a fresh config should assume: podman first, like `auto` at run time. */
function engineOnPath(env: Record<string, string | undefined>): string | null {
  for (const name of ENGINE_ORDER) if (findOnPath(name, env.PATH ?? "")) return name;
  return null;
}

/**
 * The CI files come from the CI renderer, which reads a devflow.toml from disk: render the
 * new config in a private temp folder (stacks are declared, so nothing there is detected).
 */
async function ciFilesFor(config: string, root: string, force: boolean, extensions: ExtensionSource): Promise<PlannedFile[]> {
  const { loadCiProject, ciFiles, isGenerated, DEFAULT_WORKFLOW } = await import("../ci/project.ts");
  const scratch = mkdtempSync(join(tmpdir(), "dwf-init-"));
  try {
    writeFileSync(join(scratch, CONFIG_FILE), config);
    const project = await loadCiProject({
      cwd: scratch,
      config: join(scratch, CONFIG_FILE),
      needSha256: true,
      existingWorkflow: join(root, DEFAULT_WORKFLOW),
      extensions,
    });
    return ciFiles(project).flatMap((f) => {
      const path = relative(scratch, f.path);
      // A CI file the user wrote is theirs: keep it (without --force) instead of refusing the rest.
      const existing = readIfFile(join(root, path));
      if (existing !== null && !force && !isGenerated(existing, f.marker)) {
        log.info(`kept your ${path} (not written by dwf); 'dwf ci generate --stdout' shows the one dwf would write.`);
        return [];
      }
      return [{ path, content: f.text }];
    });
  } catch (e) {
    // The workflow is a convenience: init still writes the rest, and says how to retry.
    log.warn(`not writing the CI workflow: ${(e as Error).message} Run 'dwf ci generate' once that is fixed.`);
    return [];
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function readIfFile(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

export async function runInit(opts: InitOptions): Promise<InitResult> {
  const ctx = createContext(opts.root, opts.env);
  const chosen = await chooseStacks(opts.stacks, ctx, opts.extensions.builtins);
  const targets = await initTargets(chosen.stacks, ctx);
  const engine = engineOnPath(opts.env);
  const stacks = chosen.stacks.map((s) => s.name);
  const config = renderConfig({ project: basename(opts.root) || "project", stacks, how: chosen.how, targets, engine });
  const files: PlannedFile[] = [
    { path: CONFIG_FILE, content: config },
    { path: DOCKERFILE, content: renderDockerfile(chosen.stacks) },
    ...(await ciFilesFor(config, opts.root, opts.force, opts.extensions)),
  ];
  const existing = files.filter((f) => existsSync(join(opts.root, f.path))).map((f) => f.path);
  const result: InitResult = { root: opts.root, stacks, how: chosen.how, engine, files, existing, written: [], targets };
  const top = gitTopLevel(opts.root);
  if (top && files.some((f) => f.path.startsWith(".github/"))) {
    // GitHub only reads workflows at the repository root; one in a subfolder silently never runs.
    log.warn(
      `${relative(top, realpathSync(opts.root))} is a subfolder of the git repository ${top}: GitHub Actions only runs workflows from ${join(top, ".github/workflows")}, so the .github/workflows/ci.yml written here will not run. Run 'dwf init' at the repository root for CI.`,
    );
  }
  if (opts.dryRun) return result;
  checkWritable(opts.root, files, opts.force);
  writeAllOrNothing(opts.root, files);
  result.written.push(...files.map((f) => f.path));
  return result;
}

/** The enclosing git work tree's top level when root is strictly inside it, else null. */
function gitTopLevel(root: string): string | null {
  try {
    // No git on PATH, or not a work tree: nothing to warn about.
    const r = Bun.spawnSync(["git", "rev-parse", "--show-toplevel"], { cwd: root, stdout: "pipe", stderr: "ignore", timeout: 10_000 });
    const top = r.exitCode === 0 ? r.stdout.toString().trim() : "";
    return top && realpathSync(top) !== realpathSync(root) ? top : null;
  } catch {
    return null;
  }
}
