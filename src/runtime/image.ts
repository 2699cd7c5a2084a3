// The environment image: its reference `<container.image>:<fingerprint>`, and making sure it
// exists locally (inspect, pull, or build Dockerfile.devflow with dwf's labels).
import { existsSync } from "node:fs";
import { READ_CAPS, readOwnFile } from "../lib/fs.ts";
import { basename, isAbsolute, join, relative } from "node:path";
import type { Config } from "../core/config.ts";
import { DOCKERFILE, type FingerprintInput } from "../core/fingerprint.ts";
import type { ExtensionSource } from "../core/registry.ts";
import { loadProject, type Project } from "../core/prepare.ts";
import { FailedError, InterruptedError, UserError } from "../lib/errors.ts";
import { summariseBuildFailure, type BuildFailureKind } from "./build-failure.ts";
import { pump } from "./host.ts";
import { childEnv } from "../lib/process.ts";
import { engineCommand, firstLine, inspectArgv, type Engine } from "./engine.ts";
import { log } from "../lib/log.ts";
import { writeStderr } from "../lib/out.ts";

/** Project name for labels and container names: [project] name, else the root folder's name. */
export function projectName(config: Config, root: string): string {
  return config.project?.name || basename(root) || "project";
}

/** A name safe for image repositories and container names: lower-case, [a-z0-9_.-]. */
export function slug(text: string, max = 40): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, "-")
    .replace(/^[^a-z0-9]+/, "")
    .replace(/-+$/, "");
  return (s || "x").slice(0, max);
}

/** Image repository without tag: [container] image, else `localhost/dwf-<project>`. */
function imageName(config: Config, root: string): string {
  return config.container?.image ?? `localhost/dwf-${slug(projectName(config, root))}`;
}

function imageRef(config: Config, root: string, fingerprint: string): string {
  return `${imageName(config, root)}:${fingerprint}`;
}

function dockerfilePath(config: Config, root: string): string {
  return join(root, config.container?.dockerfile ?? DOCKERFILE);
}

export function imageLabels(project: string, fingerprint: string): Record<string, string> {
  return { "dev.devflow.project": project, "dev.devflow.fingerprint": fingerprint };
}

/** argv for building the image: tag, labels, Dockerfile, context = project root. */
function buildArgv(
  engine: Pick<Engine, "path">,
  opts: { ref: string; dockerfile: string; context: string; labels: Record<string, string>; noCache?: boolean },
): string[] {
  const labels = Object.entries(opts.labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
  return [engine.path, "build", "-t", opts.ref, ...labels, ...(opts.noCache ? ["--no-cache"] : []), "-f", opts.dockerfile, opts.context];
}

export async function imageExists(engine: Engine, ref: string): Promise<boolean> {
  const r = await engineCommand(inspectArgv(engine, ref), { timeoutMs: 30_000 });
  return r.code === 0;
}

const FORWARDED: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/**
 * Run an engine command with its output streamed to our stderr (build logs, pull progress).
 * A SIGINT, SIGTERM or SIGHUP sent to dwf meanwhile is passed on to the engine (Ctrl-C reaches
 * it through the terminal anyway; `kill <dwf>` would not), and dwf then stops with 128 + n.
 */
async function streamEngine(argv: string[], opts: { quiet?: boolean; cwd?: string } = {}): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn(argv, { cwd: opts.cwd, env: childEnv({}), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let received: NodeJS.Signals | undefined;
  const forward = (sig: NodeJS.Signals) => {
    received ??= sig;
    try {
      proc.kill(sig);
    } catch {}
  };
  for (const sig of FORWARDED) process.on(sig, forward);
  let output = "";
  const sink = (text: string) => {
    output += text;
    if (output.length > 1_000_000) output = output.slice(-500_000);
    if (!opts.quiet) writeStderr(text);
  };
  try {
    await Promise.all([pump(proc.stdout as ReadableStream<Uint8Array>, sink), pump(proc.stderr as ReadableStream<Uint8Array>, sink)]);
    const code = await proc.exited;
    if (received) throw new InterruptedError(`${basename(argv[0]!)} ${argv[1] ?? ""} stopped by ${received}.`, received);
    return { code, output };
  } finally {
    for (const sig of FORWARDED) process.off(sig, forward);
  }
}

async function pullImage(engine: Engine, ref: string, opts: { quiet?: boolean } = {}): Promise<{ ok: boolean; detail: string }> {
  const r = await streamEngine([engine.path, "pull", ref], opts);
  return { ok: r.code === 0, detail: lastLine(r.output) };
}

export async function buildImage(
  engine: Engine,
  opts: { ref: string; dockerfile: string; context: string; labels: Record<string, string>; noCache?: boolean },
): Promise<void> {
  // A localhost/ base that is not here cannot be pulled either: say so before the engine spends
  // seconds retrying a registry that does not exist.
  for (const base of localBases(readTextOrEmpty(opts.dockerfile))) {
    if (!(await imageExists(engine, base))) {
      const summary = `the base image ${base} is not on this machine (a localhost/ image is never pulled: build or import it first)`;
      const file = basename(opts.dockerfile);
      throw new ImageBuildError(
        `building ${opts.ref} from ${file} failed: ${summary}.`,
        `Check the FROM line of ${file}: a localhost/ base must be built or imported first. Then run 'dwf image build'.`,
        summary,
      );
    }
  }
  log.info(`Building ${opts.ref} from ${basename(opts.dockerfile)} with ${engine.name}…`);
  // Build from inside the context with relative paths: podman mangles a -f path containing ','.
  const rel = relative(opts.context, opts.dockerfile);
  const inside = rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
  const r = await streamEngine(buildArgv(engine, { ...opts, context: ".", dockerfile: inside ? rel : opts.dockerfile }), {
    cwd: opts.context,
  });
  if (r.code !== 0) throw buildError(opts.ref, opts.dockerfile, engine.name, r.code, r.output);
}

/** A failed build is a failed run (exit 1), described by its cause rather than "fix the Dockerfile". */
function buildError(ref: string, dockerfile: string, engineName: string, code: number, output: string): FailedError {
  const f = summariseBuildFailure(output, code);
  const tail = f.tail.length ? `\nIts last lines:\n${f.tail.map((l) => `    ${l}`).join("\n")}` : "";
  const file = basename(dockerfile);
  const hint: Record<BuildFailureKind, string> = {
    network: `The engine needs the network to build ${file} (base image and install steps): check the connection, DNS and proxy settings, then run 'dwf image build'. Or run on the host with --profile host.`,
    "base-image": `Check the FROM line of ${file}: a localhost/ base must be built or imported first, another must exist in its registry. Then run 'dwf image build'.`,
    step: `The step's full output is above. Fix the step in ${file} (or what it fetches), then run 'dwf image build'.`,
    other: `The engine's output is above. Once fixed, run 'dwf image build'.`,
  };
  return new ImageBuildError(
    `building ${ref} from ${file} failed (${engineName} exit code ${code}): ${f.summary}.${tail}`,
    hint[f.kind],
    f.summary,
  );
}

/** A failed build, with its cause in one phrase (for profile = auto's one-line note). */
export class ImageBuildError extends FailedError {
  constructor(
    message: string,
    hint: string,
    readonly summary: string,
  ) {
    super(message, hint);
  }
}

/** `FROM localhost/…` images of a Dockerfile (not earlier stages, which are named with AS). */
export function localBases(dockerfile: string): string[] {
  const stages = new Set<string>();
  const bases: string[] = [];
  for (const line of dockerfile.split(/\r?\n/)) {
    const m = /^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (!m) continue;
    const image = m[1]!;
    if (isLocalOnly(image) && !stages.has(image.toLowerCase()) && !bases.includes(image)) bases.push(image);
    if (m[2]) stages.add(m[2].toLowerCase());
  }
  return bases;
}

/** The Dockerfile's text; a FIFO or device in its place is never opened blocking (fingerprinting refuses it). */
function readTextOrEmpty(path: string): string {
  return readOwnFile(path, READ_CAPS.dockerfile, { followSymlinks: true }).text ?? "";
}

/** `localhost/…` names an image only this machine can have: no registry serves it. */
function isLocalOnly(ref: string): boolean {
  return ref.startsWith("localhost/");
}

function lastLine(text: string): string {
  return firstLine(text.split("\n").reverse().join("\n"));
}

export interface ImageSpec {
  ref: string;
  project: string;
  fingerprint: string;
  dockerfile: string;
  context: string;
  /** Each fingerprint input with its own hash (null = missing), for --explain. */
  inputs: FingerprintInput[];
}

/** Make sure the image exists: present locally, else pulled, else built from Dockerfile.devflow. */
export async function ensureImage(
  engine: Engine,
  spec: ImageSpec,
  opts: { quiet?: boolean; knownPresent?: boolean } = {},
): Promise<"present" | "pulled" | "built"> {
  if (opts.knownPresent || (await imageExists(engine, spec.ref))) return "present";
  if (isLocalOnly(spec.ref)) {
    if (!existsSync(spec.dockerfile)) {
      throw new UserError(
        `image ${spec.ref} is not present locally, and there is no ${basename(spec.dockerfile)} to build it from (a localhost/ image is never pulled: no registry serves it).`,
        `Add ${basename(spec.dockerfile)} (see 'dwf init') and run 'dwf image build', set [container] image to a registry name CI pushes, or use --profile host.`,
      );
    }
    await buildImage(engine, {
      ref: spec.ref,
      dockerfile: spec.dockerfile,
      context: spec.context,
      labels: imageLabels(spec.project, spec.fingerprint),
    });
    return "built";
  }
  if (!opts.quiet) log.info(`Image ${spec.ref} is not present locally; pulling it…`);
  const pulled = await pullImage(engine, spec.ref, { quiet: true });
  if (pulled.ok) return "pulled";
  if (!existsSync(spec.dockerfile)) {
    throw new UserError(
      `image ${spec.ref} is not available: it is not present locally, pulling it failed (${pulled.detail || "no detail"}), and there is no ${basename(spec.dockerfile)} to build it from.`,
      `Push the image for this fingerprint from CI, or add ${basename(spec.dockerfile)} (see 'dwf init') and run 'dwf image build', or use --profile host.`,
    );
  }
  if (!opts.quiet) log.info(`Pull failed (${pulled.detail || "no detail"}); building it from ${basename(spec.dockerfile)} instead.`);
  await buildImage(engine, {
    ref: spec.ref,
    dockerfile: spec.dockerfile,
    context: spec.context,
    labels: imageLabels(spec.project, spec.fingerprint),
  });
  return "built";
}

/** The image spec of a loaded project: its fingerprint (computed once per load) over its active stacks' inputs. */
export async function imageSpecFor(project: Pick<Project, "loaded" | "fingerprint">): Promise<ImageSpec> {
  const { config, root } = project.loaded;
  const fp = await project.fingerprint();
  return {
    ref: imageRef(config, root, fp.hash),
    project: projectName(config, root),
    fingerprint: fp.hash,
    dockerfile: dockerfilePath(config, root),
    context: root,
    inputs: fp.inputs,
  };
}

/** Load the project at cwd and compute its image spec (for fingerprint, image and shell). */
export async function loadImageSpec(opts: {
  cwd: string;
  config?: string;
  env?: Record<string, string | undefined>;
  extensions: ExtensionSource;
}) {
  const project = await loadProject(opts);
  const spec = await imageSpecFor(project);
  return { project, spec };
}
