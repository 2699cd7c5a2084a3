// Runs actions directly on the host. Each child gets its own process group so Ctrl-C,
// SIGTERM and --fail-fast can stop the whole tree it spawned, not just the direct child.
import { resolve } from "node:path";
import type { Runner, RunOutcome, RunRequest } from "../core/runner.ts";
import { OutputBuffer } from "../core/runner.ts";
import { childEnv, resolveProgram, signalGroup } from "../lib/process.ts";
import { RUN_ENV, type RunReaper } from "./reaper.ts";

const KILL_GRACE_MS = 3000;
const DRAIN_MS = 500;

async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Read a stream as text into the buffer (and the live callback) until it closes. */
export async function pump(stream: ReadableStream<Uint8Array>, sink: (text: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) sink(decoder.decode(chunk, { stream: true }));
  const rest = decoder.decode();
  if (rest) sink(rest);
}

export interface SpawnedProcess {
  pid: number;
  exited: Promise<number>;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Spawn argv in its own process group, collect combined output, honour the abort signal
 * (SIGTERM to the group, SIGKILL after a grace period). Shared by host and container runners.
 */
export async function spawnTracked(
  argv: string[],
  opts: {
    cwd: string;
    env: Record<string, string>;
    signal: AbortSignal;
    onOutput?: (t: string) => void;
    live: Set<SpawnedProcess>;
    reaper?: RunReaper;
  },
): Promise<RunOutcome> {
  const started = performance.now();
  // Everything the task starts carries its marker, so what leaves the group is found too (reaper.ts).
  let marker: string | undefined;
  if (opts.reaper) {
    await opts.reaper.beforeSpawn();
    marker = opts.reaper.nextMarker();
    opts = { ...opts, env: { ...opts.env, [RUN_ENV]: marker } };
  }
  const out = new OutputBuffer();
  const sink = (t: string) => {
    out.push(t);
    opts.onOutput?.(t);
  };
  let proc: ReturnType<typeof Bun.spawn>;
  try {
    proc = Bun.spawn(argv, { cwd: opts.cwd, env: opts.env, stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true });
  } catch (e) {
    return {
      exitCode: 127,
      output: "",
      durationMs: performance.now() - started,
      error: `could not start '${argv[0]}': ${(e as Error).message}`,
    };
  }
  const handle: SpawnedProcess = { pid: proc.pid, exited: proc.exited, kill: (s = "SIGTERM") => signalGroup(proc.pid, s) };
  opts.live.add(handle);
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  // Only a process still running when the run was cancelled was stopped by us; one that had
  // already finished keeps its own result.
  let stopped = false;
  const onAbort = () => {
    stopped = true;
    handle.kill("SIGTERM");
    killTimer = setTimeout(() => handle.kill("SIGKILL"), KILL_GRACE_MS);
  };
  if (opts.signal.aborted) onAbort();
  else opts.signal.addEventListener("abort", onAbort, { once: true });
  try {
    const pumps = Promise.all([
      pump(proc.stdout as ReadableStream<Uint8Array>, sink),
      pump(proc.stderr as ReadableStream<Uint8Array>, sink),
    ]);
    await proc.exited;
    // A background process the task left behind may hold the pipes open for ever: once the
    // direct child has exited, drain briefly, stop its group, and stop waiting soon after.
    if (!(await settlesWithin(pumps, DRAIN_MS))) {
      signalGroup(proc.pid, "SIGKILL");
      await settlesWithin(pumps, DRAIN_MS);
    }
  } finally {
    opts.signal.removeEventListener("abort", onAbort);
    if (killTimer) clearTimeout(killTimer);
    // Grandchildren that outlived the direct child would keep running: stop the group,
    // and whatever left it (setsid) but still carries the task's marker.
    signalGroup(proc.pid, "SIGKILL");
    if (marker) opts.reaper!.taskEnded(marker, proc.pid);
    opts.live.delete(handle);
  }
  const exitCode = proc.exitCode ?? (proc.signalCode ? 128 + signalNumber(String(proc.signalCode)) : 1);
  return {
    exitCode,
    output: out.toString(),
    durationMs: performance.now() - started,
    error: stopped ? "cancelled" : proc.signalCode ? `killed by ${proc.signalCode}` : undefined,
  };
}

function signalNumber(sig: string): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 } as Record<string, number>)[sig] ?? 1;
}

/** `reaper`: the run's, which marks every process a task starts and stops what outlives it (none: the process group only). */
export function createHostRunner(opts: { reaper?: RunReaper } = {}): Runner {
  const live = new Set<SpawnedProcess>();
  return {
    kind: "host",
    commandLine(req) {
      return [req.action.program, ...req.action.args];
    },
    async run(req: RunRequest): Promise<RunOutcome> {
      const env = childEnv(req.env);
      // The action's own env wins; only what the task would inherit is withheld.
      for (const name of req.unset ?? []) if (!Object.hasOwn(req.env, name)) delete env[name];
      const program = resolveProgram(req.action.program, req.cwd, env.PATH);
      if (!program) {
        const where = req.action.program.includes("/") ? `at ${resolve(req.cwd, req.action.program)}` : "on PATH";
        return {
          exitCode: 127,
          output: "",
          durationMs: 0,
          error: `'${req.action.program}' was not found ${where} (or is not executable). Install it, or run 'dwf doctor' to see what is missing.`,
        };
      }
      return spawnTracked([program, ...req.action.args], {
        cwd: req.cwd,
        env,
        signal: req.signal,
        onOutput: req.onOutput,
        live,
        reaper: opts.reaper,
      });
    },
    async stopAll() {
      for (const p of live) p.kill("SIGTERM");
      const all = Promise.all([...live].map((p) => p.exited));
      if (!(await settlesWithin(all, KILL_GRACE_MS))) for (const p of live) p.kill("SIGKILL");
    },
  };
}
