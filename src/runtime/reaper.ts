// Tasks cannot outlive their run (host runner). Each task runs in its own process group, which stops what
// stays in it; a grandchild that calls setsid() (a daemon, `setsid cmd &`) leaves the group and
// would survive Ctrl-C, the end of its task and the end of the run. So on Linux:
//  - every process a task starts carries DWF_RUN=<run id>:<task number> in its environment
//    (inherited by everything below it, whatever its session or parent);
//  - dwf makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so orphans of its tasks
//    are re-parented to dwf rather than to init;
//  - when a task ends, every process carrying that task's marker is killed; when the run ends,
//    every process carrying the run's marker, and every child dwf still has, is killed;
//  - a run that spawns tasks records itself in <cache root>/runs/<run id>.json; the next run
//    finds records whose dwf is gone (kill -9, a crash) and kills what carries their marker.
// Limits: /proc and prctl are Linux; elsewhere only the process group is stopped. A process
// that clears its environment (env -i) and detaches before dwf ends is missed.
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { log } from "../lib/log.ts";
import { procStat } from "../lib/pid.ts";

export const RUN_ENV = "DWF_RUN";
const RUNS_DIR = "runs";
const LINUX = process.platform === "linux";

interface RunRecord {
  version: 1;
  runId: string;
  /** Where the pid means something: the machine and its pid namespace (a container, a shared cache on NFS). */
  host: string;
  pidns: string;
  pid: number;
  /** Start time of dwf in clock ticks since boot (/proc/<pid>/stat field 22): tells a reused pid apart. */
  start: string;
}

function pidNamespace(): string {
  try {
    return readlinkSync("/proc/self/ns/pid");
  } catch {
    return "";
  }
}

function randomId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The DWF_RUN value in a process's environment (as it was at exec), if any. */
function markerOf(pid: number): string | undefined {
  try {
    return markerIn(readFileSync(`/proc/${pid}/environ`, "latin1"));
  } catch {
    return undefined;
  }
}

/** The DWF_RUN value in the text of a /proc/<pid>/environ file. */
function markerIn(env: string): string | undefined {
  const key = `${RUN_ENV}=`;
  let from: number;
  if (env.startsWith(key)) from = key.length;
  else {
    const i = env.indexOf(`\0${key}`);
    if (i < 0) return undefined;
    from = i + 1 + key.length;
  }
  const end = env.indexOf("\0", from);
  return env.slice(from, end < 0 ? undefined : end);
}

function lastPid(): number | undefined {
  try {
    return Number(readFileSync("/proc/sys/kernel/ns_last_pid", "latin1").trim()) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Pids of live processes, optionally only those allocated after `since` (pids are handed out
 * in increasing order and wrap at pid_max): a task's processes are all younger than the task.
 */
function pids(since?: number): number[] {
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return [];
  }
  const last = since === undefined ? undefined : lastPid();
  const out: number[] = [];
  for (const name of names) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    if (since !== undefined && last !== undefined) {
      const young = last >= since ? pid > since && pid <= last : pid > since || pid <= last;
      if (!young) continue;
    }
    out.push(pid);
  }
  return out;
}

function kill(pid: number): boolean {
  try {
    process.kill(pid, "SIGKILL");
    return true;
  } catch {
    return false;
  }
}

/** Sweeps are repeated while they find something: a process may fork between reading /proc and its kill. */
const MAX_SWEEPS = 8;

/** Kill every process (younger than `since`) whose marker satisfies `match`; returns how many. */
function killMarked(match: (marker: string) => boolean, since?: number): number {
  let total = 0;
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let n = 0;
    for (const pid of pids(since)) {
      const m = markerOf(pid);
      if (m !== undefined && match(m) && kill(pid)) n++;
    }
    total += n;
    if (n === 0) break;
  }
  return total;
}

/** killMarked with non-blocking reads, for the sweeps that run while tasks do. */
async function killMarkedAsync(match: (marker: string) => boolean, since: number): Promise<number> {
  let total = 0;
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    const n = await sweepOnce(match, since);
    total += n;
    if (n === 0) break;
  }
  return total;
}

async function sweepOnce(match: (marker: string) => boolean, since: number): Promise<number> {
  const { readdir, readFile } = await import("node:fs/promises");
  let names: string[];
  try {
    names = await readdir("/proc");
  } catch {
    return 0;
  }
  const last = lastPid();
  const young = names.filter((name) => {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) return false;
    const pid = Number(name);
    if (pid === process.pid) return false;
    return last === undefined || (last >= since ? pid > since && pid <= last : pid > since || pid <= last);
  });
  let n = 0;
  await Promise.all(
    young.map(async (name) => {
      let env: string;
      try {
        env = await readFile(`/proc/${name}/environ`, "latin1");
      } catch {
        return;
      }
      const m = markerIn(env);
      if (m !== undefined && match(m) && kill(Number(name))) n++;
    }),
  );
  return n;
}

let subreaperTried = false;

/** PR_SET_CHILD_SUBREAPER through libc's prctl; a no-op where that is not available. */
async function becomeSubreaper(): Promise<void> {
  if (subreaperTried || !LINUX) return;
  subreaperTried = true;
  try {
    const { dlopen, FFIType } = await import("bun:ffi");
    for (const name of ["libc.so.6", "libc.so", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"]) {
      try {
        const lib = dlopen(name, {
          prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
        });
        const PR_SET_CHILD_SUBREAPER = 36;
        if (lib.symbols.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) !== 0) log.debug("reaper: prctl(PR_SET_CHILD_SUBREAPER) failed");
        return;
      } catch {}
    }
  } catch (e) {
    log.debug(`reaper: no subreaper: ${(e as Error).message}`);
  }
}

/** The reaper of one run: markers for its tasks, and the sweep when each task and the run ends. */
export class RunReaper {
  private id: string | undefined;
  /** Made when a task first needs it: a run whose every task is cached never does. */
  get runId(): string {
    return (this.id ??= randomId());
  }
  private tasks = 0;
  private firstPid: number | undefined;
  private record: string | undefined;
  private started = false;

  /** `cacheRoot`: where the run records itself for the next run's sweep (none: no record). */
  constructor(private cacheRoot?: string) {}

  /** Record the run in this cache root (known once the project is loaded), before any task starts. */
  recordIn(cacheRoot: string | undefined): void {
    this.cacheRoot = cacheRoot;
  }

  private ready: Promise<void> | undefined;

  /** Before the first task starts: become the subreaper and leave a record for the next run. */
  beforeSpawn(): Promise<void> {
    // Tasks starting together all wait for it: none may run before the record exists.
    return (this.ready ??= this.prepare());
  }

  private async prepare(): Promise<void> {
    if (!LINUX) return;
    this.started = true;
    this.firstPid = lastPid();
    await becomeSubreaper();
    if (!this.cacheRoot) return;
    const start = procStat("self")?.[19];
    if (!start) return;
    try {
      const dir = join(this.cacheRoot, RUNS_DIR);
      mkdirSync(dir, { recursive: true });
      const path = join(dir, `${this.runId}.json`);
      const rec: RunRecord = { version: 1, runId: this.runId, host: hostname(), pidns: pidNamespace(), pid: process.pid, start };
      writeFileSync(path, JSON.stringify(rec), { flag: "wx", mode: 0o644 });
      this.record = path;
    } catch (e) {
      log.debug(`reaper: cannot record this run: ${(e as Error).message}`);
    }
  }

  /** The DWF_RUN value for the next task. */
  nextMarker(): string {
    return `${this.runId}:${++this.tasks}`;
  }

  private pending = new Set<Promise<void>>();

  /**
   * A task's direct child is gone: so is everything that carries its marker. The sweep runs
   * beside the next task (it only reads /proc), and the end of the run waits for it.
   */
  taskEnded(marker: string, taskPid: number): void {
    if (!LINUX) return;
    const sweep = killMarkedAsync((m) => m === marker, taskPid).then(
      (n) => {
        if (n) log.debug(`reaper: stopped ${n} process${n === 1 ? "" : "es"} ${marker} left behind`);
      },
      () => {},
    );
    this.pending.add(sweep);
    void sweep.finally(() => this.pending.delete(sweep));
  }

  /** The run is over: nothing it started may remain, marked or re-parented to dwf. */
  async finish(): Promise<void> {
    if (!LINUX || !this.started) return;
    await Promise.all(this.pending);
    const prefix = `${this.runId}:`;
    let n = killMarked((m) => m.startsWith(prefix), this.firstPid);
    // Orphans re-parented to dwf (the subreaper) that lost the marker: dwf waits for all its
    // own helpers before the run ends, so any child left now is one of them.
    for (const pid of pids(this.firstPid)) {
      const f = procStat(pid);
      if (f && Number(f[1]) === process.pid && f[0] !== "Z" && kill(pid)) n++;
    }
    if (n) log.debug(`reaper: stopped ${n} process${n === 1 ? "" : "es"} the run left behind`);
    if (this.record) rmSync(this.record, { force: true });
  }
}

/**
 * Runs recorded under the cache root whose dwf is gone (kill -9, a crash, a power cut inside a
 * VM): kill every process still carrying their marker, then drop the record.
 */
export function reapAbandonedRuns(cacheRoot: string): void {
  if (!LINUX) return;
  const dir = join(cacheRoot, RUNS_DIR);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const stale: { path: string; runId: string }[] = [];
  for (const name of names) {
    if (!/^[0-9a-f]{16}\.json$/.test(name)) continue;
    const path = join(dir, name);
    let rec: Partial<RunRecord>;
    try {
      rec = JSON.parse(readFileSync(path, "utf8")) as Partial<RunRecord>;
    } catch {
      // Half-written by a run killed at that moment: nothing to find by it.
      rmSync(path, { force: true });
      continue;
    }
    if (typeof rec.runId !== "string" || !/^[0-9a-f]{16}$/.test(rec.runId) || typeof rec.pid !== "number") {
      rmSync(path, { force: true });
      continue;
    }
    // A run recorded on another machine or in another pid namespace cannot be judged from here.
    if (rec.host !== hostname() || rec.pidns !== pidNamespace()) continue;
    const alive = procStat(rec.pid)?.[19] === rec.start;
    if (!alive) stale.push({ path, runId: rec.runId });
  }
  if (stale.length === 0) return;
  const prefixes = stale.map((s) => `${s.runId}:`);
  const n = killMarked((m) => prefixes.some((p) => m.startsWith(p)));
  if (n) log.info(`stopped ${n} process${n === 1 ? "" : "es"} left running by an earlier dwf run that was killed`);
  for (const s of stale) rmSync(s.path, { force: true });
}
