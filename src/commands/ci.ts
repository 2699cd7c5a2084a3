// `dwf ci generate | check | plan`: the GitHub Actions workflow that runs what `dwf verify`
// runs, kept in sync with devflow.toml. Logic lives in src/ci/; this file is the CLI edge.
import { defineCommand } from "./args.ts";
import { relative } from "node:path";
import { configArgs } from "./_shared.ts";
import { log } from "../report/log.ts";
import { EXIT } from "../core/errors.ts";
import { writeStdout, writeStderr } from "../report/out.ts";

const outputArg = {
  output: { type: "string", description: "Workflow path (default: .github/workflows/ci.yml)", valueHint: "path" },
} as const;

async function load(args: { config?: string }) {
  const { loadCiProject } = await import("../ci/project.ts");
  return loadCiProject({ cwd: process.cwd(), config: args.config });
}

const generate = defineCommand({
  meta: { name: "generate", description: "Write the GitHub Actions workflow (and docker-bake.hcl) from devflow.toml" },
  args: {
    ...configArgs,
    ...outputArg,
    stdout: { type: "boolean", description: "Print the workflow instead of writing files" },
    force: { type: "boolean", description: "Replace files that dwf did not generate" },
  },
  async run({ args }) {
    const project = await load(args);
    const { ciFiles, writeGenerated } = await import("../ci/project.ts");
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
      log.warn(`${project.settings.dockerfile} does not exist; the workflow's prep job builds the CI image from it. Run 'dwf init' to create it.`);
    }
    return EXIT.ok;
  },
});

const check = defineCommand({
  meta: { name: "check", description: "Exit 1 with a diff when the workflow on disk differs from what 'dwf ci generate' writes" },
  args: { ...configArgs, ...outputArg },
  async run({ args }) {
    const project = await load(args);
    const { ciFiles, checkDrift } = await import("../ci/project.ts");
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
    writeStderr(`  Run '${fix}' to bring ${drift.length === 1 ? "it" : "them"} in sync${drift.some((d) => !d.missing) ? " (hand edits are replaced; put them in devflow.toml instead)" : ""}.\n`);
    return EXIT.failed;
  },
});

const plan = defineCommand({
  meta: { name: "plan", description: "Show the CI jobs per profile, their order, the dwf commands and the image" },
  args: { ...configArgs, ...outputArg, json: { type: "boolean", description: "Machine-readable plan on stdout" } },
  async run({ args }) {
    const project = await load(args);
    const { ciPlanJson, renderCiPlan } = await import("../ci/plan-view.ts");
    const { DEFAULT_WORKFLOW } = await import("../ci/project.ts");
    const workflow = args.output ?? DEFAULT_WORKFLOW;
    if (args.json) writeStdout(JSON.stringify(ciPlanJson(project.settings, workflow), null, 2) + "\n");
    else writeStdout(renderCiPlan(project.settings, workflow));
    return EXIT.ok;
  },
});

export default defineCommand({
  meta: { name: "ci", description: "GitHub Actions workflow that mirrors 'dwf verify': generate, check, plan" },
  subCommands: { generate, check, plan },
});
