// Container engine detection and health: which of docker/podman to drive, and whether it
// answers. An explicit engine never falls back to another one or to the host.
import type { Config } from "../core/config.ts";
import { UserError } from "../lib/errors.ts";
import { childEnv, findOnPath } from "../lib/process.ts";
import { statSync } from "node:fs";

export type EngineName = "docker" | "podman";
type EngineSetting = EngineName | "auto";

/** The engines `auto` tries, in order: podman first (no daemon, rootless by default), then docker. */
export const ENGINE_ORDER: readonly EngineName[] = ["podman", "docker"];

/** The engines a setting allows, in the order they are tried: an explicit engine is only itself. */
export function enginesFor(setting: EngineSetting): readonly EngineName[] {
  return setting === "auto" ? ENGINE_ORDER : [setting];
}

export interface Engine {
  name: EngineName;
  /** Absolute path of the engine CLI. */
  path: string;
  /**
   * The engine runs as the invoking (non-root) user: rootless podman maps that user with
   * --userns=keep-id; under a rootless Docker daemon the container's root is that user.
   */
  rootless: boolean;
}

const PROBE_TIMEOUT_MS = 5000;

export function requestedEngine(
  config: Config,
  env: Record<string, string | undefined> = process.env,
): { setting: EngineSetting; source: string } {
  const fromEnv = env.DWF_ENGINE;
  const raw = fromEnv || config.container?.engine || "auto";
  const source = fromEnv ? "DWF_ENGINE" : config.container?.engine ? "[container] engine" : "default";
  if (raw !== "docker" && raw !== "podman" && raw !== "auto") {
    throw new UserError(`${source}: '${raw}' is not a container engine; use docker, podman or auto.`);
  }
  return { setting: raw, source };
}

/** The argv that asks an engine whether it answers (docker: the daemon; podman: its storage/service). */
function healthArgv(engine: Pick<Engine, "name" | "path">): string[] {
  return engine.name === "docker"
    ? [engine.path, "version", "--format", "{{.Server.Version}}"]
    : [engine.path, "version", "--format", "{{.Client.Version}}"];
}

interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Run an engine command with a deadline, capturing output (never a shell). */
export async function engineCommand(
  argv: string[],
  opts: { timeoutMs?: number; env?: Record<string, string | undefined> } = {},
): Promise<CommandResult> {
  let proc: ReturnType<typeof Bun.spawn>;
  try {
    proc = Bun.spawn(argv, { env: childEnv({}, opts.env ?? process.env), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  } catch (e) {
    return { code: 127, stdout: "", stderr: (e as Error).message, timedOut: false };
  }
  let timedOut = false;
  const timer = opts.timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        proc.kill("SIGKILL");
      }, opts.timeoutMs)
    : undefined;
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout as ReadableStream).text(),
    new Response(proc.stderr as ReadableStream).text(),
    proc.exited,
  ]);
  if (timer) clearTimeout(timer);
  return { code, stdout, stderr, timedOut };
}

type Probe = { ok: true; engine: Engine; imagePresent?: boolean } | { ok: false; reason: string };

/**
 * Is this engine installed, and does it answer within the deadline? With an image reference,
 * a successful `image inspect` answers both questions in one engine call (the common case).
 */
export async function probeEngine(
  name: EngineName,
  env: Record<string, string | undefined> = process.env,
  opts: { timeoutMs?: number; imageRef?: string } = {},
): Promise<Probe> {
  const timeoutMs = opts.timeoutMs ?? PROBE_TIMEOUT_MS;
  const path = findOnPath(name, env.PATH ?? "");
  if (!path) return { ok: false, reason: `'${name}' was not found on PATH` };
  const engine: Engine = { name, path, rootless: name === "podman" ? process.getuid?.() !== 0 : await dockerRootless(path, env) };
  if (opts.imageRef) {
    const inspect = await engineCommand(inspectArgv(engine, opts.imageRef), { timeoutMs, env });
    if (inspect.code === 0) return { ok: true, engine, imagePresent: true };
    if (inspect.timedOut) return { ok: false, reason: `'${name}' did not answer within ${Math.round(timeoutMs / 1000)} s` };
  }
  const r = await engineCommand(healthArgv(engine), { timeoutMs, env });
  if (r.timedOut) return { ok: false, reason: `'${name} version' did not answer within ${Math.round(timeoutMs / 1000)} s` };
  if (r.code !== 0) {
    const detail = firstLine(r.stderr) || `exit code ${r.code}`;
    return { ok: false, reason: `'${name}' does not answer: ${detail.replace(/[.\s]+$/, "")}` };
  }
  return { ok: true, engine, imagePresent: opts.imageRef ? false : undefined };
}

/**
 * Does the Docker daemon run as the invoking (non-root) user: rootless dockerd, or podman's
 * Docker API served by this user? Then the container's root is this user, and any other uid is
 * one of its subordinate ids that cannot write the workspace. Rootless dockerd says so in its
 * security options; either daemon keeps its data in a folder this user owns.
 */
async function dockerRootless(path: string, env: Record<string, string | undefined> = process.env): Promise<boolean> {
  const uid = process.getuid?.();
  if (uid === undefined || uid === 0 || process.platform !== "linux") return false;
  const r = await engineCommand([path, "info", "--format", "{{json .SecurityOptions}}\t{{.DockerRootDir}}"], {
    timeoutMs: PROBE_TIMEOUT_MS,
    env,
  });
  if (r.code !== 0) return false;
  const [options = "", root = ""] = r.stdout.trim().split("\t");
  if (options.includes("name=rootless")) return true;
  try {
    return root.startsWith("/") && statSync(root).uid === uid;
  } catch {
    return false;
  }
}

export function inspectArgv(engine: Pick<Engine, "path">, ref: string): string[] {
  return [engine.path, "image", "inspect", "--format", "{{.Id}}", ref];
}

/** Force-remove containers by name. podman's rm -f waits for the stop timeout unless told otherwise; docker's kills at once. */
function removeArgv(engine: Pick<Engine, "name" | "path">, names: string[]): string[] {
  return engine.name === "podman" ? [engine.path, "rm", "-f", "-t", "0", ...names] : [engine.path, "rm", "-f", ...names];
}

/** Remove containers by name with a deadline: on cancel, on stop, and when a shell exits by signal. */
export function removeContainers(
  engine: Pick<Engine, "name" | "path">,
  names: string[],
  env?: Record<string, string | undefined>,
): Promise<CommandResult> {
  return engineCommand(removeArgv(engine, names), { timeoutMs: 30_000, env });
}

/**
 * Whether `run --rm` can be trusted to report the container's exit code. The podman CLI does;
 * the docker CLI cannot know which daemon answers, and podman 4.3's Docker API (`podman system
 * service`, podman-docker, podman machine) makes `docker run --rm` exit 0 whatever the container
 * returned. So docker containers run without --rm: dwf reads the code (containerExit) and
 * removes them itself.
 */
export function trustsAutoRemove(engine: Pick<Engine, "name">): boolean {
  return engine.name === "podman";
}

/** How a finished container ended, as the engine recorded it. */
function exitArgv(engine: Pick<Engine, "path">, name: string): string[] {
  return [engine.path, "container", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name];
}

export type ContainerEnd = { ran: true; exitCode: number } | { ran: false };

/**
 * How a container ended: the exit code of its process once it has stopped, or that it never
 * ran (created only: the engine could not start it). Undefined when it still runs or the engine
 * cannot say. This, not the engine CLI's own exit code, is the task's result under the docker
 * engine (see trustsAutoRemove).
 */
export async function containerExit(
  engine: Pick<Engine, "path">,
  name: string,
  env?: Record<string, string | undefined>,
): Promise<ContainerEnd | undefined> {
  const r = await engineCommand(exitArgv(engine, name), { timeoutMs: 30_000, env });
  if (r.code !== 0) return undefined;
  const text = r.stdout.trim();
  if (/^created\b/.test(text)) return { ran: false };
  const m = /^(exited|stopped)\s+(-?\d+)$/.exec(text);
  return m ? { ran: true, exitCode: Number(m[2]) } : undefined;
}

/** End with a full stop, unless the text (an engine's own question, say) already ends a sentence. */
function sentence(text: string): string {
  return /[.?!]$/.test(text) ? text : `${text}.`;
}

export function firstLine(text: string): string {
  return (
    text
      .split("\n")
      .map((l) => l.trim())
      .find((l) => l !== "") ?? ""
  );
}

const INSTALL_HINT: Record<EngineName, string> = {
  docker:
    "Install Docker and start its daemon (or point DOCKER_HOST at a running one), or choose another engine with DWF_ENGINE / [container] engine.",
  podman: "Install podman (check that 'podman info' works), or choose another engine with DWF_ENGINE / [container] engine.",
};

/** The engine to use: explicit engines must be healthy (UserError otherwise); auto prefers podman, then docker. */
export async function resolveEngine(
  config: Config,
  env: Record<string, string | undefined> = process.env,
  opts: { imageRef?: string } = {},
): Promise<Engine & { imagePresent?: boolean }> {
  const { setting, source } = requestedEngine(config, env);
  const result = await findEngine(setting, env, opts);
  if ("engine" in result) return { ...result.engine, imagePresent: result.imagePresent };
  if (setting === "auto") {
    throw new UserError(
      sentence(`no container engine is available: ${result.reasons.join("; ")}`),
      "Install podman or Docker, or run on the host with --profile host.",
    );
  }
  throw new UserError(sentence(`${source} = ${setting}, but ${result.reasons[0]}`), INSTALL_HINT[setting]);
}

/** Like resolveEngine, but reports instead of throwing (for profile = auto and doctor). */
export async function findEngine(
  setting: EngineSetting,
  env: Record<string, string | undefined> = process.env,
  opts: { imageRef?: string } = {},
): Promise<{ engine: Engine; imagePresent?: boolean } | { reasons: string[] }> {
  const reasons: string[] = [];
  for (const name of enginesFor(setting)) {
    const p = await probeEngine(name, env, opts);
    if (p.ok) return { engine: p.engine, imagePresent: p.imagePresent };
    reasons.push(p.reason);
  }
  return { reasons };
}
