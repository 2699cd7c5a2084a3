// Config fuzzing through the compiled binary: N mutated devflow.toml cases, 2 at a time,
// each must end with exit 0 or 2 and a one-paragraph message, never a crash, trace or hang.
// Usage: bun test/stress/fuzz-config.ts [--cases 2000] [--seed N] [--random] [--replay id]
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeCase, messageProblem, type FuzzCase } from "./fuzz-gen.ts";
import { binary, flag, cleanChildEnv } from "./_util.ts";

const FIXED_SEED = 20240808;
const cases = Number(flag("--cases") ?? 2000);
const seeds = [Number(flag("--seed") ?? FIXED_SEED)];
if (process.argv.includes("--random")) seeds.push(Math.floor(Math.random() * 2 ** 31));
const replay = flag("--replay");
const TIMEOUT_MS = 15_000;
const bin = binary();

/** Put the case at <dir>/devflow.toml in whatever form it asks for. */
function materialise(dir: string, c: FuzzCase): void {
  const path = join(dir, "devflow.toml");
  rmSync(path, { recursive: true, force: true });
  if (c.kind === "dir") mkdirSync(join(path, "inner"), { recursive: true });
  else if (c.kind === "fifo") Bun.spawnSync(["mkfifo", path]);
  else if (c.kind === "loop") symlinkSync("devflow.toml", path);
  else if (c.kind === "dangling") symlinkSync("does-not-exist.toml", path);
  else writeFileSync(path, c.bytes);
}

interface Outcome {
  seed: number;
  c: FuzzCase;
  code: number | "hang";
  problem: string | null;
  stderr: string;
}

async function runCase(dir: string, seed: number, c: FuzzCase): Promise<Outcome> {
  materialise(dir, c);
  // Alternate the ways a config reaches dwf: discovered, --config, and --json output.
  const variant = c.id % 3;
  const args =
    variant === 0
      ? ["verify", "--dry-run"]
      : variant === 1
        ? ["verify", "--dry-run", "--config", "devflow.toml"]
        : ["verify", "--dry-run", "--json"];
  const proc = Bun.spawn([bin, ...args], {
    cwd: dir,
    env: cleanChildEnv({ DWF_PROFILE: "host" }),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    proc.kill("SIGKILL");
  }, TIMEOUT_MS);
  const [, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  clearTimeout(timer);
  if (hung) return { seed, c, code: "hang", problem: "hang (killed after 15 s)", stderr };
  let problem: string | null = null;
  if (code !== 0 && code !== 2) problem = `exit ${code}`;
  else if (code === 2) problem = stderr.trim() === "" ? "exit 2 without a message" : messageProblem(stderr);
  else if (/internal error|^\s+at /m.test(stderr)) problem = messageProblem(stderr) ?? "trace on success";
  return { seed, c, code, problem, stderr };
}

async function main(): Promise<void> {
  const work = [0, 1].map(() => {
    const d = mkdtempSync(join(tmpdir(), "dwf-fuzz-"));
    writeFileSync(
      join(d, "Makefile"),
      "fmt-check:\n\t@true\nlint-static:\n\t@true\nbuild-debug:\n\t@true\ntest-unit:\n\t@true\ntest-integration:\n\t@true\n",
    );
    return d;
  });
  const queue: [number, FuzzCase][] = [];
  for (const seed of seeds) {
    if (replay !== undefined) queue.push([seed, makeCase(seed, Number(replay))]);
    else for (let i = 0; i < cases; i++) queue.push([seed, makeCase(seed, i)]);
  }
  console.log(`fuzz-config: ${queue.length} cases, seeds ${seeds.join(", ")}, 2 at a time, binary ${bin}`);
  const started = performance.now();
  const failures: Outcome[] = [];
  const codes = new Map<string, number>();
  const byMutation = new Map<string, number>();
  let done = 0;
  await Promise.all(
    work.map(async (dir) => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        const o = await runCase(dir, item[0], item[1]);
        codes.set(String(o.code), (codes.get(String(o.code)) ?? 0) + 1);
        const m = o.c.mutation.split("+")[0]!;
        byMutation.set(m, (byMutation.get(m) ?? 0) + 1);
        if (o.problem) {
          failures.push(o);
          console.log(
            `FAIL seed=${o.seed} id=${o.c.id} mutation=${o.c.mutation} kind=${o.c.kind}: ${o.problem}\n  ${o.stderr.trim().slice(0, 400).replaceAll("\n", "\n  ")}`,
          );
        }
        if (++done % 250 === 0) console.log(`  ${done} done`);
      }
    }),
  );
  const secs = (performance.now() - started) / 1000;
  for (const d of work) rmSync(d, { recursive: true, force: true });
  console.log(`\nexit codes: ${[...codes].map(([k, v]) => `${k}=${v}`).join(" ")}`);
  console.log(
    `mutations: ${[...byMutation]
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join(" ")}`,
  );
  const count = (p: RegExp) => failures.filter((f) => p.test(f.problem ?? "")).length;
  console.log(
    `cases: ${done}  failures: ${failures.length}  (internal errors ${count(/internal/)}, stack traces ${count(/stack/)}, hangs ${count(/hang/)}, bad exit ${count(/^exit \d/)}, long/multi-paragraph ${count(/paragraph|lines|characters/)})`,
  );
  console.log(`time: ${secs.toFixed(1)} s, ${(done / secs).toFixed(1)} cases/s`);
  console.log(`replay one: bun test/stress/fuzz-config.ts --seed <seed> --replay <id>`);
  process.exit(failures.length === 0 ? 0 : 1);
}

await main();
