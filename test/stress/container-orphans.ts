// Orphans: kill -9 of dwf at a random moment of a parallel container run, then one more dwf run
// in the same project. After it: no container of the killed run is left (running or stopped), and
// the engine CLIs the killed dwf had started have ended with their containers.
// Usage: bun test/stress/container-orphans.ts [--rounds 10] [--seed N] [--engine podman|docker]
// (--engine docker starts its own dockerd, as the integration tests do)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { rng } from "./fuzz-gen.ts";
import { binary, cleanChildEnv, flag, pidsWith } from "./_util.ts";
import { containerProject, ensureBaseImage, removeImages } from "../support/podman.ts";
import { startDockerd, type Dockerd } from "../support/dockerd.ts";

const rounds = Number(flag("--rounds") ?? 10);
const seed = Number(flag("--seed") ?? Math.floor(Math.random() * 2 ** 31));
const engine = flag("--engine") ?? "podman";
const bin = binary();
const rand = rng(seed);
const token = Math.random().toString(36).slice(2, 8);
const image = `localhost/dwf-stress-orphans-${token}`;

let dockerd: Dockerd | undefined;
if (engine === "docker") dockerd = await startDockerd();
else ensureBaseImage();
const engineEnv: Record<string, string> = dockerd ? { DWF_ENGINE: "docker", DOCKER_HOST: dockerd.dockerHost } : { DWF_ENGINE: "podman" };

function cli(args: string[]): string {
  const argv = dockerd ? ["docker", ...args] : ["podman", ...args];
  const r = Bun.spawnSync(argv, { env: { ...process.env, ...engineEnv }, stdout: "pipe", stderr: "pipe" });
  return r.stdout.toString();
}
const containersOf = (project: string) =>
  cli(["ps", "-a", "--filter", `label=dev.devflow.project=${project}`, "--format", "{{.Names}}"])
    .split("\n")
    .filter(Boolean);

function project(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), "dwf-orphans-"));
  const files = containerProject({
    name,
    image,
    targets: { pr: ["build:debug", "test:integration"], quick: ["test:unit"] },
    makefile: { "build-debug": ["sleep 40"], "test-integration": ["sleep 40"], "test-unit": ["echo quick"] },
  });
  for (const [f, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), content);
    if (content.startsWith("#!")) chmodSync(join(dir, f), 0o755);
  }
  return dir;
}

interface Round {
  delayMs: number;
  /** Containers of the killed run alive right after kill -9: proves the check can fail. */
  orphaned: number;
  left: number;
  clis: number;
  nextCode: number | null;
  sweepMs: number;
}

async function one(i: number): Promise<Round> {
  const name = `orph-${token}-${i}`;
  const dir = project(name);
  try {
    const delayMs = Math.floor(rand() * 5000);
    const proc = Bun.spawn([bin, "verify", "--jobs", "2", "--no-cache"], {
      cwd: dir,
      env: cleanChildEnv(engineEnv),
      stdin: "ignore",
      stdout: "ignore",
      stderr: "ignore",
    });
    await Bun.sleep(delayMs);
    proc.kill("SIGKILL");
    await proc.exited;
    // Containers whose creation was already under way when dwf died appear a moment later.
    await Bun.sleep(500);
    const orphaned = containersOf(name).length;
    const started = performance.now();
    const next = Bun.spawnSync([bin, "verify", "quick", "--no-cache"], {
      cwd: dir,
      env: cleanChildEnv(engineEnv),
      stdout: "pipe",
      stderr: "pipe",
      timeout: 120_000,
    });
    const sweepMs = performance.now() - started;
    const left = containersOf(name);
    // The engine CLIs of the killed run were attached to those containers.
    let clis = pidsWith(name);
    for (let t = 0; t < 50 && clis.length; t++) {
      await Bun.sleep(100);
      clis = pidsWith(name);
    }
    for (const pid of clis) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    if (left.length) cli(["rm", "-f", ...left]);
    return { delayMs, orphaned, left: left.length, clis: clis.length, nextCode: next.exitCode, sweepMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: Round[] = [];
console.log(`orphans: engine ${engine}, ${rounds} x kill -9, seed ${seed}`);
try {
  for (let i = 0; i < rounds; i++) {
    const r = await one(i);
    results.push(r);
    if (r.left || r.clis || r.nextCode !== 0)
      console.log(
        `FAIL kill -9 after ${r.delayMs} ms: ${r.orphaned} orphaned, ${r.left} left after the next run, ${r.clis} engine CLIs left, next run exit ${r.nextCode}`,
      );
  }
} finally {
  if (dockerd) await dockerd.stop();
  else removeImages(image);
}
const bad = results.filter((r) => r.left || r.clis || r.nextCode !== 0);
console.log(
  `rounds: ${results.length}  failures: ${bad.length}  containers orphaned by kill -9: ${results.reduce((a, r) => a + r.orphaned, 0)} (in ${results.filter((r) => r.orphaned).length} rounds)  left after the next run: ${results.reduce((a, r) => a + r.left, 0)}`,
);
console.log(`next run (sweep + one quick task): slowest ${Math.max(...results.map((r) => r.sweepMs)).toFixed(0)} ms`);
console.log(`replay: bun test/stress/container-orphans.ts --rounds ${rounds} --seed ${seed} --engine ${engine}`);
process.exit(bad.length === 0 ? 0 : 1);
