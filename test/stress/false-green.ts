// False green: a file is flipped between a failing and a passing version at a random moment
// while its task runs (before it reads the file, while it reads, after), then set back to the
// failing version. A cached pass for the failing tree would be a false green. Also counts how
// often a result was stored at all, so a cache that stores nothing cannot pass silently.
// Usage: bun test/stress/false-green.ts [--rounds 100] [--seed N]
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rng } from "./fuzz-gen.ts";
import { binary, cleanChildEnv, flag } from "./_util.ts";

const rounds = Number(flag("--rounds") ?? 100);
const seed = Number(flag("--seed") ?? Math.floor(Math.random() * 2 ** 31));
const rand = rng(seed);
const bin = binary();

const dir = mkdtempSync(join(tmpdir(), "dwf-green-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "devflow.toml"), `[project]\nstack = ["custom"]\n\n[targets]\npr = ["test:unit"]\n`);
// Reads src.txt twice, 0-300 ms apart: an edit can land before, between or after the reads.
writeFileSync(join(dir, "Makefile"), `test-unit:\n\t@sleep 0.$$(( $$$$ % 3 )); grep -q good src.txt; sleep 0.1; grep -q good src.txt\n`);

function run(): Promise<{ code: number; out: string }> {
  const p = Bun.spawn([bin, "verify", "--json"], { cwd: dir, env: cleanChildEnv(), stdout: "pipe", stderr: "pipe" });
  return Promise.all([p.exited, new Response(p.stdout).text()]).then(([code, out]) => ({ code, out }));
}

const entries = () => {
  const tasks = join(dir, ".cache/devflow/tasks");
  return existsSync(tasks)
    ? readdirSync(tasks)
        .filter((d) => /^[0-9a-f]{2}$/.test(d))
        .flatMap((d) => readdirSync(join(tasks, d))).length
    : 0;
};

let falseGreen = 0;
let stored = 0;
let notReplayed = 0;
const started = performance.now();
for (let r = 0; r < rounds; r++) {
  // A fresh failing version each round (its own content), so no earlier result applies.
  const bad = `bad ${r}\n`;
  writeFileSync(join(dir, "src.txt"), bad);
  const before = entries();
  const running = run();
  await Bun.sleep(Math.floor(rand() * 600));
  writeFileSync(join(dir, "src.txt"), `good ${r}\n`);
  await running;
  if (entries() > before) stored++;
  writeFileSync(join(dir, "src.txt"), bad);
  const after = await run();
  if (after.code === 0) {
    falseGreen++;
    console.log(`FALSE GREEN round ${r}: ${after.out.slice(0, 300)}`);
  }
  // Now the passing version, unchanged during its run: it must be stored and replayed.
  writeFileSync(join(dir, "src.txt"), `good ${r}\n`);
  await run();
  const replay = await run();
  if (!replay.out.includes('"cached"')) {
    notReplayed++;
    console.log(`round ${r}: an unchanged passing tree was not replayed`);
  }
}
console.log(
  `seed ${seed}: ${rounds} rounds with an edit during the task: ${falseGreen} false greens (cached pass for a failing tree); the edited run stored its result in ${stored} rounds (the edit landed before the tree was hashed); ${notReplayed} unchanged passing trees not replayed; ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
process.exit(falseGreen || notReplayed ? 1 : 0);
