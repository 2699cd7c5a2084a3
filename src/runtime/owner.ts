// Which dwf process owns a container, and sweeping the containers of runs whose dwf is gone.
// Every container dwf starts carries labels naming its run and its dwf process (pid plus the
// process start time, so a reused pid is not mistaken for the owner), on this kernel and pid
// namespace. After kill -9 the next run finds them and removes them; containers of another
// machine or namespace sharing the daemon are never touched while their owner may be alive.
import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { engineCommand, removeContainers, type Engine } from "./engine.ts";
import { pidExists, procStat } from "../lib/pid.ts";

export const LABEL = {
  run: "dev.devflow.run",
  pid: "dev.devflow.pid",
  /** Start time of the dwf process: /proc clock ticks after boot on Linux, else `ps` lstart. */
  started: "dev.devflow.pid-start",
  hostname: "dev.devflow.hostname",
  /** `<boot id>/<pid namespace inode>`: which kernel and namespace the pid belongs to. */
  kernel: "dev.devflow.kernel",
} as const;

export interface Owner {
  pid: number;
  started: string;
  hostname: string;
  kernel: string;
}

const PS_TIMEOUT_MS = 5000;

/** The start time of a live process, or undefined when no such process exists. */
export function processStart(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  if (process.platform === "linux") {
    // Field 22 (starttime).
    return procStat(pid)?.[19];
  }
  const r = quietly(["ps", "-o", "lstart=", "-p", String(pid)]);
  const text = r?.out.trim().replace(/\s+/g, "_");
  return r?.code === 0 && text ? text : undefined;
}

export type ProcessState = { alive: false } | { alive: true; started?: string };

/** Whether a pid is in use, and by a process started when. */
function processState(pid: number): ProcessState {
  const started = processStart(pid);
  if (started !== undefined) return { alive: true, started };
  return pidExists(pid) ? { alive: true } : { alive: false };
}

/** Which kernel (boot) and pid namespace pids are counted in; "" when unknown (never swept). */
function kernelId(): string {
  if (process.platform === "linux") {
    try {
      const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
      const ns = readlinkSync("/proc/self/ns/pid").replace(/\D/g, "");
      return `${boot}/${ns}`;
    } catch {
      return "";
    }
  }
  // macOS and the BSDs: the boot time stands for the boot id; there are no pid namespaces.
  const r = quietly(["sysctl", "-n", "kern.boottime"]);
  const sec = r?.code === 0 ? /sec\s*=\s*(\d+)/.exec(r.out)?.[1] : undefined;
  return sec ? `boot-${sec}/0` : "";
}

/** A small system command's stdout, or undefined where it does not exist (Windows). */
function quietly(argv: string[]): { code: number; out: string } | undefined {
  try {
    const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "ignore", timeout: PS_TIMEOUT_MS });
    return { code: r.exitCode ?? 1, out: r.stdout.toString() };
  } catch {
    return undefined;
  }
}

let self: Owner | undefined;

/** This dwf process as an owner. */
export function currentOwner(): Owner {
  self ??= { pid: process.pid, started: processStart(process.pid) ?? "", hostname: hostname(), kernel: kernelId() };
  return self;
}

/** Labels for a container this process starts in run `run`. */
export function ownerLabels(run: string, owner: Owner = currentOwner()): Record<string, string> {
  return {
    [LABEL.run]: run,
    [LABEL.pid]: String(owner.pid),
    [LABEL.started]: owner.started,
    [LABEL.hostname]: owner.hostname,
    [LABEL.kernel]: owner.kernel,
  };
}

export interface LabelledContainer {
  id: string;
  name: string;
  running: boolean;
  labels: Partial<Record<keyof typeof LABEL, string>>;
}

/**
 * Is the dwf that started this container gone for certain? Only when it ran on this kernel and
 * in this pid namespace and its pid is free or now belongs to a later process; or, for a
 * container that no longer runs, when it came from this host name before a reboot. Anything
 * else (another machine on a shared daemon, another container's namespace, old labels) is kept.
 */
export function ownerGone(
  c: LabelledContainer,
  me: Owner = currentOwner(),
  stateOf: (pid: number) => ProcessState = processState,
): boolean {
  const pid = Number(c.labels.pid);
  if (!Number.isInteger(pid) || pid <= 0 || !c.labels.started || !c.labels.kernel) return false;
  if (!me.kernel) return false;
  if (c.labels.kernel === me.kernel) {
    if (pid === me.pid && c.labels.started === me.started) return false;
    const state = stateOf(pid);
    if (!state.alive) return true;
    // A live process we may not look at (another user's, hidepid): assume it is the owner.
    return state.started !== undefined && state.started !== c.labels.started;
  }
  const [boot] = c.labels.kernel.split("/");
  return !c.running && c.labels.hostname === me.hostname && boot !== me.kernel.split("/")[0];
}

/** `ps` of every container carrying dwf's pid label, with the labels the sweep needs. */
export function listArgv(engine: Pick<Engine, "name" | "path">): string[] {
  const label = (k: string) => (engine.name === "docker" ? `{{.Label "${k}"}}` : `{{index .Labels "${k}"}}`);
  const keys = ["pid", "started", "hostname", "kernel"] as const;
  const format = ["{{.ID}}", "{{.Names}}", "{{.State}}", ...keys.map((k) => label(LABEL[k]))].join("\t");
  return [engine.path, "ps", "-a", "--no-trunc", "--filter", `label=${LABEL.pid}`, "--format", format];
}

export function parseList(text: string): LabelledContainer[] {
  const out: LabelledContainer[] = [];
  for (const line of text.split("\n")) {
    const [id, name, state, pid, started, host, kernel] = line.split("\t");
    if (!id || !name) continue;
    // docker says "running"; podman says "Up 3 seconds".
    const running = /^(running|up)\b/i.test(state ?? "");
    out.push({ id, name, running, labels: { pid, started, hostname: host, kernel } });
  }
  return out;
}

/**
 * Remove the containers of dwf runs whose dwf is gone (kill -9, a crash, a reboot). Best effort:
 * an engine that does not answer here is reported later by the run itself. Returns the names removed.
 */
export async function sweepOrphans(engine: Pick<Engine, "name" | "path">, env?: Record<string, string | undefined>): Promise<string[]> {
  const r = await engineCommand(listArgv(engine), { timeoutMs: 30_000, env });
  if (r.code !== 0) return [];
  const orphans = parseList(r.stdout).filter((c) => ownerGone(c));
  if (orphans.length === 0) return [];
  const rm = await removeContainers(
    engine,
    orphans.map((c) => c.id),
    env,
  );
  if (rm.code === 0) return orphans.map((c) => c.name);
  // Some were already gone (another dwf swept them at the same time): report what we removed.
  const after = await engineCommand(listArgv(engine), { timeoutMs: 30_000, env });
  const left = new Set(after.code === 0 ? parseList(after.stdout).map((c) => c.id) : orphans.map((c) => c.id));
  return orphans.filter((c) => !left.has(c.id)).map((c) => c.name);
}
