// `dwf verify [profile]`: run a target profile, i.e. `dwf check:<profile>`.
import { defineCommand } from "citty";
import { parseJobs, runArgs } from "./_shared.ts";
import { runHooks, runTasks } from "../core/run-tasks.ts";
import { installTaskCache } from "../core/task-cache.ts";
import { installGithubHooks } from "../report/github.ts";
import { UserError } from "../core/errors.ts";

export default defineCommand({
  meta: { name: "verify", description: "Run a target profile from devflow.toml (default: pr); same as 'dwf check:<profile>'" },
  args: {
    profileName: { type: "positional", required: false, description: "Profile under [targets] (default: pr)", valueHint: "profile" },
    ...runArgs,
  },
  async run({ args }) {
    const name = (args.profileName as string | undefined) ?? "pr";
    if (!/^[a-z][a-z0-9_-]*$/.test(name)) throw new UserError(`'${name}' is not a profile name; profiles are lower-case words such as 'pr' or 'main'.`);
    if (args._.length > 1) throw new UserError(`'dwf verify' takes one profile, got: ${args._.join(" ")}.`, "Run several profiles as 'dwf verify pr && dwf verify main'.");
    installTaskCache(runHooks);
    installGithubHooks();
    return runTasks({
      cwd: process.cwd(),
      commands: [{ primary: "check", selector: name }],
      title: `check:${name}`,
      config: args.config,
      profile: args.profile,
      jobs: parseJobs(args.jobs),
      failFast: Boolean(args["fail-fast"]),
      dryRun: Boolean(args["dry-run"]),
      json: Boolean(args.json),
      verbose: Boolean(args.verbose),
      noCache: args.cache === false,
      report: args.report,
    });
  },
});
