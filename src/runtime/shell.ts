// The engine side of `dwf shell`: same image, mounts, env and user as a task, with the
// terminal attached. The container is removed by name on exit, signal or error; its exit
// code is read from the engine first (see settleContainer).
import { resolveCacheRoot } from "../core/cache-root.ts";
import { childEnv } from "../lib/process.ts";
import { removeContainers, resolveEngine, trustsAutoRemove } from "./engine.ts";
import type { ExtensionSource } from "../core/registry.ts";
import { ensureImage, loadImageSpec } from "./image.ts";
import {
  baseEnv,
  buildProxyCall,
  collectSetup,
  containerLabels,
  containerName,
  containerWorkdir,
  createMounts,
  randomToken,
  removeOrphans,
  settleContainer,
  userArgs,
} from "./container.ts";
import { UserError } from "../lib/errors.ts";
import { insideContainer } from "../sdk/image.ts";
import { quoteCommand } from "../lib/shell-quote.ts";
import { redactText, secretValues } from "../lib/redact.ts";
import { log } from "../lib/log.ts";
import { isTerminal } from "../lib/out.ts";

/** bash when the image has it, else sh: a fixed program string, never user input. */
const DEFAULT_SHELL = ["/bin/sh", "-c", "command -v bash >/dev/null 2>&1 && exec bash || exec sh"];

export async function runShell(opts: {
  cwd: string;
  config?: string;
  command: string[];
  env?: Record<string, string | undefined>;
  extensions: ExtensionSource;
}): Promise<number> {
  const env = opts.env ?? process.env;
  if (insideContainer(env))
    throw new UserError("already inside a container; 'dwf shell' would nest one.", "Run the command directly here.");
  const { project, spec } = await loadImageSpec({ cwd: opts.cwd, config: opts.config, env, extensions: opts.extensions });
  const { config, root } = project.loaded;
  const engine = await resolveEngine(config, env);
  const cacheRoot = resolveCacheRoot(root, config, env, project.loaded.path ?? undefined);
  const setup = await collectSetup(project.registry, cacheRoot);
  createMounts(setup, cacheRoot);
  await Promise.all([ensureImage(engine, spec), removeOrphans(engine, env)]);
  const tty = isTerminal(0) && isTerminal(1);
  const user = userArgs({ engine: engine.name, rootless: engine.rootless, configured: config.container?.user });
  const run = randomToken();
  const name = containerName(spec.project, "shell", run);
  const [program, ...args] = opts.command.length ? opts.command : DEFAULT_SHELL;
  const { argv, env: viaEnv } = buildProxyCall({
    engine: engine.path,
    name,
    autoRemove: trustsAutoRemove(engine),
    labels: containerLabels(spec.project, run),
    workspace: root,
    workdir: containerWorkdir(root, opts.cwd),
    mounts: setup.mounts,
    env: { ...setup.env, ...user.env, ...baseEnv(), ...(tty && env.TERM ? { TERM: env.TERM } : {}) },
    engineEnv: env,
    user: user.args,
    interactive: true,
    tty,
    image: spec.ref,
    program: program!,
    args,
  });
  log.debug(`[shell] ${redactText(quoteCommand(argv), secretValues(env, setup.env))}`);
  // With a terminal, Ctrl-C is a keystroke for the shell inside (the engine puts the TTY in raw
  // mode), so dwf ignores SIGINT. Without one, SIGINT means "stop": the engine would only pass it
  // to the container's PID 1, which ignores it, so dwf removes the container by name. Either way a
  // signal that stops the shell gives 128 + its number, like a task.
  let stopped: { code: number; removing: Promise<unknown> } | undefined;
  const stop = (code: number) => () => {
    stopped ??= { code, removing: removeContainers(engine, [name], env) };
  };
  const handlers: [NodeJS.Signals, () => void][] = [
    ["SIGINT", tty ? () => {} : stop(130)],
    ["SIGTERM", stop(143)],
    ["SIGHUP", stop(129)],
  ];
  for (const [sig, h] of handlers) process.on(sig, h);
  try {
    const proc = Bun.spawn(argv, { cwd: root, env: childEnv(viaEnv, env), stdin: "inherit", stdout: "inherit", stderr: "inherit" });
    const code = await proc.exited;
    if (!stopped) {
      if (trustsAutoRemove(engine)) return code;
      const end = await settleContainer(engine, name, code, env);
      await removeContainers(engine, [name], env);
      return end?.ran ? end.exitCode : end && code === 0 ? 125 : code;
    }
    // A signal that raced container creation: remove again once the engine CLI is gone.
    await stopped.removing;
    await removeContainers(engine, [name], env);
    return stopped.code;
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}
