// Argument sets shared by commands, and the checks on their values (numbers), so every
// command reports bad arguments the same way.
import type { ArgsDef } from "citty";
import type { CommandRef } from "../../sdk/types.ts";
import { UserError } from "../../lib/errors.ts";

export const configArgs = {
  config: { type: "string", description: "Path to devflow.toml (default: nearest one upwards)", valueHint: "path" },
} as const satisfies ArgsDef;

const outputArgs = {
  json: { type: "boolean", description: "Machine-readable result on stdout" },
  verbose: { type: "boolean", alias: ["V"], description: "Show every task's output and more detail" },
} as const satisfies ArgsDef;

export const runArgs = {
  ...configArgs,
  profile: { type: "string", description: "Runtime profile: host, container or auto (env DWF_PROFILE)", valueHint: "host|container|auto" },
  jobs: { type: "string", alias: ["j"], description: "Tasks to run at once (default: CPU count)", valueHint: "n" },
  "fail-fast": { type: "boolean", description: "Stop at the first failure, cancelling the rest" },
  "dry-run": { type: "boolean", alias: ["n"], description: "Print the plan (tasks, stacks, commands, order); run nothing" },
  cache: {
    type: "boolean",
    default: true,
    description: "Reuse results of tasks whose inputs did not change",
    negativeDescription: "Run every task even when a cached result exists",
  },
  install: {
    type: "boolean",
    default: true,
    description: "Install a stack's dependencies before its tasks when they are missing or a lockfile changed",
    negativeDescription: "Do not install missing or stale dependencies first (config: [deps] install = false)",
  },
  "remote-cache": {
    type: "enum",
    options: ["off", "read", "readwrite"],
    description: "Use the remote task cache: off, read (no uploads) or readwrite (env DWF_REMOTE_CACHE; default from [cache.remote])",
    valueHint: "off|read|readwrite",
  },
  explain: { type: "boolean", description: "Say for each task whether its cached result is shared with other machines, and why" },
  report: { type: "string", description: "Post a GitHub commit status under this context", valueHint: "context" },
  ...outputArgs,
} as const satisfies ArgsDef;

function parseJobs(raw: string | undefined): number {
  const cpus = navigator.hardwareConcurrency || 2;
  if (raw === undefined || raw === "") return cpus;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new UserError(`--jobs expects a whole number from 1 to 1024, got '${raw}'.`);
  return n;
}

/** Run a task command with the parsed shared flags, the task cache and GitHub reporting. */
export async function runWithFlags(
  args: Record<string, unknown>,
  commands: CommandRef[],
  title: string,
  extra: { warm?: boolean } = {},
): Promise<number> {
  const [{ runTasks }, { runServices }] = await Promise.all([import("../verify-flow.ts"), import("../wiring.ts")]);
  return runTasks(
    {
      cwd: process.cwd(),
      commands,
      title,
      config: args.config as string | undefined,
      profile: args.profile as string | undefined,
      jobs: parseJobs(args.jobs as string | undefined),
      failFast: Boolean(args["fail-fast"]),
      dryRun: Boolean(args["dry-run"]),
      json: Boolean(args.json),
      verbose: Boolean(args.verbose),
      noCache: args.cache === false,
      noInstall: args.install === false,
      remoteCache: args["remote-cache"] as string | undefined,
      explain: Boolean(args.explain),
      report: args.report as string | undefined,
      warm: extra.warm,
    },
    await runServices(),
  );
}
