// Process helpers every layer uses: PATH lookup, a child's environment, signals to a process
// group, and one bounded call (a timeout and an output cap, its whole group stopped after).
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join, resolve } from "node:path";

/** Stdout a bounded call may print before it is stopped; stderr keeps its head only. */
const MAX_OUTPUT_BYTES = 1024 * 1024;
const MAX_STDERR_BYTES = 64 * 1024;

export function findOnPath(program: string, pathVar = process.env.PATH ?? ""): string | null {
  if (program.includes("/")) return isExecutable(program) ? program : null;
  for (const dir of pathVar.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, program);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

export function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function resolveProgram(program: string, cwd: string, pathVar: string | undefined): string | null {
  if (program.includes("/")) {
    const abs = isAbsolute(program) ? program : resolve(cwd, program);
    return findOnPath(abs);
  }
  return findOnPath(program, pathVar);
}

export function childEnv(extra: Record<string, string>, base: Record<string, string | undefined> = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  return Object.assign(env, extra);
}

/** Send a signal to a process group, ignoring groups that are already gone. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  // Children are session leaders (detached), so the group id is their pid. Never fall back
  // to the bare pid: after exit it may already belong to an unrelated process.
  try {
    process.kill(-pid, signal);
  } catch {
    /* group already gone */
  }
}

export interface CallResult {
  exitCode: number;
  signal?: string;
  stdout: string;
  stderr: string;
}

export class CallError extends Error {}

/**
 * Run `argv` with `input` on stdin in its own process group. Kills the group and throws
 * CallError on timeout or when stdout exceeds the cap; never waits on escaped grandchildren.
 */
export async function callBounded(
  argv: string[],
  opts: { cwd: string; input?: string; timeoutMs: number; maxBytes?: number; env?: Record<string, string | undefined> },
): Promise<CallResult> {
  const maxBytes = opts.maxBytes ?? MAX_OUTPUT_BYTES;
  let proc: ReturnType<typeof Bun.spawn>;
  try {
    proc = Bun.spawn(argv, {
      cwd: opts.cwd,
      env: childEnv({}, opts.env ?? process.env),
      stdin: opts.input !== undefined ? new TextEncoder().encode(opts.input) : "ignore",
      stdout: "pipe",
      stderr: "pipe",
      detached: true,
    });
  } catch (e) {
    throw new CallError(`could not be started: ${(e as Error).message}`);
  }
  const killGroup = () => signalGroup(proc.pid, "SIGKILL");
  let failure: string | undefined;
  let stop: (why: string) => void = () => {};
  const stopped = new Promise<void>((done) => {
    stop = (why) => {
      failure ??= why;
      killGroup();
      done();
    };
  });
  const timer = setTimeout(() => stop(`did not answer within ${opts.timeoutMs / 1000} s and was stopped`), opts.timeoutMs);
  const read = async (stream: ReadableStream<Uint8Array>, limit: number, hard: boolean): Promise<string> => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of stream) {
      if (failure) break;
      size += chunk.byteLength;
      if (size > limit) {
        if (hard) {
          stop(`printed more than ${Math.round(limit / 1024)} KiB on stdout and was stopped`);
          break;
        }
        continue; // stderr: keep the head, drain the rest so the child never blocks
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString("utf8");
  };
  // Once the extension exits, whatever it left in its group (holding our pipes open) goes too.
  const exited = proc.exited.then((code) => {
    killGroup();
    return code;
  });
  const work = Promise.all([
    read(proc.stdout as ReadableStream<Uint8Array>, maxBytes, true),
    read(proc.stderr as ReadableStream<Uint8Array>, MAX_STDERR_BYTES, false),
    exited,
  ]);
  const outcome = await Promise.race([work, stopped.then(() => null)]);
  clearTimeout(timer);
  if (failure || outcome === null) {
    killGroup();
    throw new CallError(failure ?? "was stopped");
  }
  const [stdout, stderr, exitCode] = outcome;
  return { exitCode, signal: proc.signalCode ? String(proc.signalCode) : undefined, stdout, stderr };
}
