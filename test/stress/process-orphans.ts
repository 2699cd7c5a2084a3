// Orphans: tasks that start daemons leaving their process group (setsid), ended three ways —
// a normal pass, SIGINT at a random moment, and kill -9 of dwf followed by another run. After
// each round no process the round started may be alive. The pids come from the tasks themselves.
// Usage: bun test/stress/process-orphans.ts [--rounds 30] [--seed N]
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rng } from "./fuzz-gen.ts";
import { binary, cleanChildEnv, flag } from "./_util.ts";

const rounds = Number(flag("--rounds") ?? 30);
const seed = Number(flag("--seed") ?? Math.floor(Math.random() * 2 ** 31));
const rand = rng(seed);
const bin = binary();

const dir = mkdtempSync(join(tmpdir(), "dwf-orphans-"));
const pidsFile = join(dir, "..", `${dir.split("/").pop()}.pids`);
process.on("exit", () => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(pidsFile, { force: true });
});
const daemon = `setsid sh -c 'echo $$$$ >> "$$PIDS"; exec sleep 300' >/dev/null 2>&1 </dev/null &`;
const tasks = ["fmt-check", "lint-static", "build-debug", "test-unit"];
writeFileSync(
  join(dir, "devflow.toml"),
  `[project]\nstack = ["custom"]\n\n[targets]\npr = ["fmt:check", "lint:static", "build:debug", "test:unit"]\n`,
);
// Each task starts two daemons (one double-forked) and then either ends or holds for a while.
writeFileSync(
  join(dir, "Makefile"),
  tasks.map((t, i) => `${t}:\n\t@${daemon} (${daemon}) ; echo $$$$ >> "$$PIDS"; sleep 0.${i + 2}\n`).join(""),
);

const alive = (pid: number) => {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "latin1");
    return s[s.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
};
const recorded = () => (existsSync(pidsFile) ? readFileSync(pidsFile, "utf8").split(/\s+/).filter(Boolean).map(Number) : []);

async function settle(pids: number[]): Promise<number[]> {
  const end = Date.now() + 2000;
  let left = pids.filter(alive);
  while (left.length && Date.now() < end) {
    await Bun.sleep(25);
    left = left.filter(alive);
  }
  return left;
}

const env = cleanChildEnv({ PIDS: pidsFile });
const counts = { pass: 0, interrupt: 0, kill9: 0 };
let survivors = 0;
let started = 0;
const t0 = performance.now();
for (let r = 0; r < rounds; r++) {
  rmSync(pidsFile, { force: true });
  const mode = (["pass", "interrupt", "kill9"] as const)[r % 3]!;
  counts[mode]++;
  const proc = Bun.spawn([bin, "verify", "--no-cache", "--jobs", "2"], { cwd: dir, env, stdout: "ignore", stderr: "ignore" });
  if (mode !== "pass") {
    await Bun.sleep(150 + Math.floor(rand() * 400));
    proc.kill(mode === "interrupt" ? "SIGINT" : "SIGKILL");
  }
  await proc.exited;
  if (mode === "kill9") {
    // The next run cleans up what the killed one left.
    const next = Bun.spawn([bin, "lint:static", "--no-cache"], {
      cwd: dir,
      env: cleanChildEnv({ PIDS: join(dir, "ignored") }),
      stdout: "ignore",
      stderr: "ignore",
    });
    await next.exited;
  }
  const pids = recorded();
  started += pids.length;
  const left = await settle(pids);
  if (left.length) {
    survivors += left.length;
    console.log(`round ${r} (${mode}): ${left.length} processes survived: ${left.join(" ")}`);
    for (const pid of left) process.kill(pid, "SIGKILL");
  }
}
console.log(
  `seed ${seed}: ${rounds} rounds (${counts.pass} passes, ${counts.interrupt} SIGINT, ${counts.kill9} kill -9 + next run): ${started} task processes and setsid daemons started, ${survivors} survived; ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);
process.exit(survivors ? 1 : 0);
