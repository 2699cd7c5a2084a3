// `dwf ci generate | check | plan`: the GitHub Actions workflow that runs what `dwf verify`
// runs, kept in sync with devflow.toml. Logic lives in src/ci/; this file is the CLI edge.
import { defineCommand } from "./args.ts";
import { relative } from "node:path";
import { configArgs } from "./_shared.ts";
import { extensionSource } from "../wiring.ts";
import { log } from "../../lib/log.ts";
import { EXIT } from "../../lib/errors.ts";
import { writeStdout, writeStderr } from "../../lib/out.ts";
import type { RuntimeKind, ToolProbe } from "../../core/runner.ts";
import type { Project } from "../../core/prepare.ts";

const outputArg = {
  output: { type: "string", description: "Workflow path (default: .github/workflows/ci.yml)", valueHint: "path" },
} as const;

const shaArg = {
  "dwf-sha256": {
    type: "string",
    description:
      "SHA-256 of the pinned release's dwf-linux-x64.tar.gz (default: [ci] dwf_sha256, the workflow on disk, else the release's SHA256SUMS)",
    valueHint: "hex",
  },
} as const;

async function load(args: { config?: string; output?: string; "dwf-sha256"?: string }, needSha256: boolean) {
  const { loadCiProject } = await import("../../ci/project.ts");
  return loadCiProject({
    cwd: process.cwd(),
    config: args.config,
    output: args.output,
    sha256: args["dwf-sha256"],
    needSha256,
    extensions: extensionSource,
  });
}

const generate = defineCommand({
  meta: { name: "generate", description: "Write the GitHub Actions workflow (and docker-bake.hcl) from devflow.toml" },
  args: {
    ...configArgs,
    ...outputArg,
    ...shaArg,
    stdout: { type: "boolean", description: "Print the workflow instead of writing files" },
    force: { type: "boolean", description: "Replace files that dwf did not generate" },
  },
  async run({ args }) {
    const project = await load(args, true);
    const { ciFiles, writeGenerated } = await import("../../ci/project.ts");
    const files = ciFiles(project, args.output);
    if (args.stdout) {
      writeStdout(files[0]!.text);
      return EXIT.ok;
    }
    for (const f of files) {
      const display = relative(process.cwd(), f.path) || f.path;
      const outcome = writeGenerated(project.root, f, Boolean(args.force), display);
      if (outcome === "kept") log.info(`kept ${display}: it was not written by dwf (the workflow runs its 'scan' and 'ci' targets).`);
      else log.info(`${outcome} ${display}`);
    }
    if (project.dockerfileMissing) {
      log.warn(
        `${project.settings.dockerfile} does not exist; the workflow's image jobs build the CI image from it. Run 'dwf init' to create it.`,
      );
    }
    return EXIT.ok;
  },
});

const check = defineCommand({
  meta: { name: "check", description: "Exit 1 with a diff when the workflow on disk differs from what 'dwf ci generate' writes" },
  args: { ...configArgs, ...outputArg, ...shaArg },
  async run({ args }) {
    const project = await load(args, true);
    const { ciFiles, checkDrift } = await import("../../ci/project.ts");
    const drift = checkDrift(ciFiles(project, args.output), process.cwd());
    // A file without dwf's marker is refused by generate unless forced: say so up front.
    const force = drift.some((d) => d.handWritten) ? " --force" : "";
    const fix = `dwf ci generate${args.config ? ` --config ${args.config}` : ""}${args.output ? ` --output ${args.output}` : ""}${force}`;
    if (drift.length === 0) {
      log.info("CI files are in sync with devflow.toml.");
      return EXIT.ok;
    }
    for (const d of drift) {
      if (d.missing) log.error(`${d.display} does not exist.`);
      else {
        log.error(`${d.display} differs from what 'dwf ci generate' would write:`);
        writeStdout(d.diff);
      }
    }
    writeStderr(
      `  Run '${fix}' to bring ${drift.length === 1 ? "it" : "them"} in sync${drift.some((d) => !d.missing) ? " (hand edits are replaced; put them in devflow.toml instead)" : ""}.\n`,
    );
    return EXIT.failed;
  },
});

const plan = defineCommand({
  meta: { name: "plan", description: "Show the CI jobs per profile, their order, the dwf commands and the image" },
  args: { ...configArgs, ...outputArg, json: { type: "boolean", description: "Machine-readable plan on stdout" } },
  async run({ args }) {
    const project = await load(args, false);
    const { ciPlanJson, renderCiPlan } = await import("../../ci/plan-view.ts");
    const { DEFAULT_WORKFLOW } = await import("../../ci/project.ts");
    const workflow = args.output ?? DEFAULT_WORKFLOW;
    const resolve = await taskResolver(args.config, project.settings.runtime);
    if (args.json) writeStdout(JSON.stringify(await ciPlanJson(project.settings, workflow, resolve), null, 2) + "\n");
    else writeStdout(await renderCiPlan(project.settings, workflow, resolve));
    return EXIT.ok;
  },
});

/**
 * The tasks `dwf <commands>` (or `dwf warm <commands>`) plans in CI, made by the verify flow's own planTasks: under the
 * container runtime extensions ask the image for their tools exactly as
 * `dwf verify --dry-run --profile container` does (the image when it is here, else nothing).
 */
async function taskResolver(config: string | undefined, runtime: RuntimeKind) {
  const [{ loadProject }, { parseCommandRef, formatRef }, { loadConfig }, { planTasks }] = await Promise.all([
    import("../../core/prepare.ts"),
    import("../../sdk/command-ref.ts"),
    import("../../core/config.ts"),
    import("../verify-flow.ts"),
  ]);
  const loaded = loadConfig({ cwd: process.cwd(), explicit: config });
  let project: ReturnType<typeof loadProject> | undefined;
  let tools: Promise<{ probe: ToolProbe; quiet: boolean } | undefined> | undefined;
  return async (commands: string[], opts: { warm?: boolean } = {}) => {
    if (commands.length === 0) return [];
    const refs = commands.map((c) => parseCommandRef(c, `command '${c}'`));
    project ??= loadProject({ cwd: process.cwd(), loaded, runtime, extensions: extensionSource });
    const p = await project;
    tools ??= runtime === "container" ? imageTools(p) : Promise.resolve(undefined);
    const t = await tools;
    // One probe for every profile: its answers are the image's, whichever profile asked.
    const prepared = await planTasks({
      cwd: process.cwd(),
      project: p,
      commands: refs,
      runtime,
      tools: t?.probe,
      dryRun: true,
      quiet: t?.quiet,
      warm: opts.warm,
    });
    return prepared.tasks.map((t) => ({
      id: t.task.id,
      command: formatRef(t.task.ref),
      stack: t.task.stack,
      ...(t.action ? { argv: [t.action.program, ...t.action.args] } : { skip: t.skip }),
    }));
  };
}

/** The image's tool probe, as a container dry run gets it; without an engine nothing is known (said at debug level). */
async function imageTools(project: Project): Promise<{ probe: ToolProbe; quiet: boolean }> {
  const [{ createContainerRunner }, { resolveEngine }, { resolveCacheRoot }, { UserError }, { unknownTools }] = await Promise.all([
    import("../../runtime/container.ts"),
    import("../../runtime/engine.ts"),
    import("../../core/cache-root.ts"),
    import("../../lib/errors.ts"),
    import("../verify-flow.ts"),
  ]);
  const { config, root } = project.loaded;
  try {
    // Found here, so that no engine means "tools unknown", said once at debug level.
    const runner = createContainerRunner({ config, root, engine: await resolveEngine(config) });
    return { probe: await runner.toolProbe!(project, resolveCacheRoot(root, config)), quiet: false };
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    log.debug(`ci plan: tools are shown as if the image lacked them: ${e.message}`);
    return { probe: unknownTools(), quiet: true };
  }
}

const mtimes = defineCommand({
  meta: {
    name: "mtimes",
    description: "CI only: record (save) or give back (restore) the file times of unchanged tracked files beside the workspace cache",
  },
  args: { ...configArgs, action: { type: "positional", description: "save or restore", required: true } },
  async run({ args }) {
    const [{ loadConfig }, { resolveCacheRoot }, { saveMtimes, restoreMtimes }] = await Promise.all([
      import("../../core/config.ts"),
      import("../../core/cache-root.ts"),
      import("../../ci/mtimes.ts"),
    ]);
    const loaded = loadConfig({ cwd: process.cwd(), explicit: args.config });
    const cacheRoot = resolveCacheRoot(loaded.root, loaded.config);
    if (args.action === "save") {
      log.info(`recorded the times of ${saveMtimes(loaded.root, cacheRoot)} tracked files`);
      return EXIT.ok;
    }
    if (args.action !== "restore") {
      const { UserError } = await import("../../lib/errors.ts");
      throw new UserError(`dwf ci mtimes: '${args.action}' is not an action.`, "Use 'dwf ci mtimes save' or 'dwf ci mtimes restore'.");
    }
    const r = restoreMtimes(loaded.root, cacheRoot);
    log.info(
      r.stamped
        ? `${r.restored} unchanged files keep the times of the cached build; ${r.changed} changed or new`
        : "no recorded file times in the cache (a cold cache): nothing to restore",
    );
    return EXIT.ok;
  },
});

export default defineCommand({
  meta: { name: "ci", description: "GitHub Actions workflow that mirrors 'dwf verify': generate, check, plan" },
  subCommands: { generate, check, plan, mtimes },
});
