// Interrupts: SIGINT and SIGTERM at random moments during a parallel run, N times each.
// After dwf exits: exit 130/143, no process carrying the run's marker alive, no task-cache
// entry for a task that did not finish, and (container) no dwf-* container left.
// Usage: bun test/stress/interrupts.ts [--rounds 20] [--seed N] [--profile host|container]
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { rng } from "./fuzz-gen.ts";
import { binary, cleanChildEnv, flag, pidsWith } from "./_util.ts";
import { BASE_IMAGE, ensureBaseImage } from "../support/podman.ts";

const rounds = Number(flag("--rounds") ?? 20);
const seed = Number(flag("--seed") ?? Math.floor(Math.random() * 2 ** 31));
const profile = flag("--profile") ?? "host";
const bin = binary();
const rand = rng(seed);

/** Tasks that hold a process plus a background grandchild; on the host the marker is their argv[0]. */
export function holdingProject(marker: string, container: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), "dwf-int-"));
  const targets = `[targets]\npr = ["fmt:check", "lint:static", "build:debug", "test:integration"]\n`;
  if (!container) {
    // bash's `exec -a` puts the marker into argv[0], so pgrep -f finds the sleeps themselves.
    const hold = (name: string) => `${name}:\n\t@bash -c '(exec -a ${marker}-gc sleep 40) & exec -a ${marker}-${name} sleep 40'\n`;
    writeFileSync(join(dir, "Makefile"), ["fmt-check", "lint-static", "build-debug", "test-unit", "test-integration"].map(hold).join(""));
    writeFileSync(join(dir, "devflow.toml"), `[project]\nstack = ["custom"]\n\n${targets}`);
    return dir;
  }
  ensureBaseImage();
  // The busybox test image has no make: a trusted external extension gives the same holder action.
  const ext = `#!/bin/sh\ncase "$1" in\n--discover) echo '["fmt:check","lint:static","build:debug","test:integration"]' ;;\n--build-action) cat >/dev/null; echo '{"program":"sh","args":["-c","sleep 40 & sleep 40"]}' ;;\n*) exit 1 ;;\nesac\n`;
  writeFileSync(join(dir, "devflow-ext-hold"), ext, { mode: 0o755 });
  writeFileSync(join(dir, "Dockerfile.devflow"), `FROM ${BASE_IMAGE}\n`);
  writeFileSync(
    join(dir, "devflow.toml"),
    `${targets}\n[container]\nimage = "localhost/dwf-stress-int"\nengine = "podman"\n\n[extensions.hold]\nsource = "path"\npath = "devflow-ext-hold"\ntrusted = true\nrequired = true\n`,
  );
  return dir;
}

/** Task result entries on disk: <cacheRoot>/tasks/<2 hex>/<key>.json (tasks/stat/ is the tree-hash stat cache). */
export function cacheEntries(cacheRoot: string): string[] {
  const dir = join(cacheRoot, "tasks");
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && /^[0-9a-f]{2}$/.test(basename(d.parentPath)))
    .map((d) => join(d.parentPath, d.name));
}

function containers(): string[] {
  const r = Bun.spawnSync(["podman", "ps", "-a", "--filter", "name=dwf-", "--format", "{{.Names}}"], { stdout: "pipe" });
  return r.stdout.toString().split("\n").filter(Boolean);
}

interface Round {
  signal: "SIGINT" | "SIGTERM";
  delayMs: number;
  code: number | null;
  signalCode: string | null;
  leftovers: number;
  entries: number;
  containers: number;
  exitMs: number;
  /** Marker processes (or dwf containers) alive just before the signal: proves the check can fail. */
  alive: number;
}

async function one(signal: "SIGINT" | "SIGTERM", i: number): Promise<Round> {
  const marker = `DWFSTRESS${seed}x${i}${signal}`;
  const dir = holdingProject(marker, profile === "container");
  const cacheRoot = join(dir, ".cache/devflow");
  const delayMs = Math.floor(rand() * (profile === "container" ? 4000 : 1500));
  const proc = Bun.spawn([bin, "verify", "--jobs", "4", "--profile", profile], {
    cwd: dir,
    env: cleanChildEnv({ DWF_CACHE_ROOT: cacheRoot }),
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  await Bun.sleep(delayMs);
  const alive = profile === "container" ? containers().length : pidsWith(marker).length;
  const sentAt = performance.now();
  proc.kill(signal);
  const guard = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  await proc.exited;
  clearTimeout(guard);
  const exitMs = performance.now() - sentAt;
  await Bun.sleep(150);
  const left = pidsWith(marker);
  for (const pid of left) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
  const r: Round = {
    signal,
    delayMs,
    code: proc.exitCode,
    signalCode: proc.signalCode === null ? null : String(proc.signalCode),
    leftovers: left.length,
    entries: cacheEntries(cacheRoot).length,
    containers: profile === "container" ? containers().length : 0,
    exitMs,
    alive,
  };
  rmSync(dir, { recursive: true, force: true });
  return r;
}

const results: Round[] = [];
console.log(`interrupts: profile ${profile}, ${rounds} x SIGINT + ${rounds} x SIGTERM, seed ${seed}`);
for (let i = 0; i < rounds; i++) {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    const r = await one(sig, i);
    results.push(r);
    const expected = sig === "SIGINT" ? 130 : 143;
    const ok = (r.code === expected || r.signalCode === sig) && r.leftovers === 0 && r.entries === 0 && r.containers === 0;
    if (!ok)
      console.log(
        `FAIL ${sig} after ${r.delayMs} ms: exit ${r.code ?? r.signalCode}, ${r.leftovers} processes left, ${r.entries} cache entries, ${r.containers} containers`,
      );
  }
}
const bad = results.filter(
  (r) => !(r.code === (r.signal === "SIGINT" ? 130 : 143) || r.signalCode === r.signal) || r.leftovers || r.entries || r.containers,
);
const bySignal = results.filter((r) => r.signalCode !== null).length;
const maxExit = Math.max(...results.map((r) => r.exitMs));
console.log(
  `rounds: ${results.length}  failures: ${bad.length}  leftover processes: ${results.reduce((a, r) => a + r.leftovers, 0)}  cache entries: ${results.reduce((a, r) => a + r.entries, 0)}  containers left: ${results.reduce((a, r) => a + r.containers, 0)}`,
);
console.log(`rounds with task processes (or containers) alive when the signal was sent: ${results.filter((r) => r.alive > 0).length}`);
console.log(
  `exit 130/143: ${results.filter((r) => r.code === 130 || r.code === 143).length}, died by the signal before dwf's handler was installed: ${bySignal}; slowest exit after the signal: ${maxExit.toFixed(0)} ms`,
);
console.log(`replay: bun test/stress/interrupts.ts --rounds ${rounds} --seed ${seed} --profile ${profile}`);
process.exit(bad.length === 0 ? 0 : 1);
