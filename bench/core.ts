// Core overheads of the compiled binary, each against a baseline measured in the same run:
//   startup       `dwf --version`                 vs /bin/true
//   per task      20 trivial tasks via dwf        vs a shell loop running the same commands
//   parallelism   4 × `sleep 1` with --jobs 4     vs the same tasks with --jobs 1
// Usage: bun run scripts/build.ts && bun bench/core.ts
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compare, dwfPath, median, row, timeOnce } from "./_util.ts";

const dwf = dwfPath();
const env = { ...process.env, NO_COLOR: "1" } as Record<string, string>;
const dir = mkdtempSync(join(tmpdir(), "dwf-bench-"));
try {
  console.log(`${Bun.spawnSync([dwf, "--version"]).stdout.toString().trim()} · ${navigator.hardwareConcurrency} cores\n`);
  console.log(`${"measure".padEnd(44)} ${"dwf".padStart(12)}   ${"baseline".padEnd(26)} ${"".padStart(12)}   ratio`);

  const [version, trueMs] = compare(
    () => timeOnce([dwf, "--version"]),
    () => timeOnce(["/bin/true"]),
    40,
    5,
  );
  row("dwf --version (startup)", version, "/bin/true", trueMs, "target <= 10 ms");
  const [help] = compare(
    () => timeOnce([dwf, "--help"]),
    () => 0,
    20,
    3,
  );
  row("dwf --help", help, "/bin/true", trueMs);

  const names = Array.from({ length: 20 }, (_, i) => `t${String(i + 1).padStart(2, "0")}`);
  writeFileSync(join(dir, "Makefile"), names.map((n) => `test-${n}:\n\t@true\n`).join(""));
  writeFileSync(
    join(dir, "devflow.toml"),
    `[project]\nname = "bench"\nstack = ["custom"]\n[cache]\ntasks = false\n[targets]\npr = [${names.map((n) => `"test:${n}"`).join(", ")}]\n`,
  );
  const loop = `for t in ${names.join(" ")}; do make -s -f Makefile test-$t || exit 1; done`;
  const [viaDwf, viaShell] = compare(
    () => timeOnce([dwf, "verify", "--jobs", "1"], { cwd: dir, env }),
    () => timeOnce(["sh", "-c", loop], { cwd: dir }),
    10,
  );
  row("20 tasks, dwf verify --jobs 1", viaDwf, "sh loop, same commands", viaShell);
  console.log(`${"  overhead per task".padEnd(44)} ${((viaDwf - viaShell) / 20).toFixed(2).padStart(9)} ms   (target <= 3 ms)`);
  const [parallel20] = compare(
    () => timeOnce([dwf, "verify"], { cwd: dir, env }),
    () => 0,
    10,
  );
  row(`20 tasks, dwf verify --jobs ${navigator.hardwareConcurrency}`, parallel20, "sh loop, same commands", viaShell);

  const sleeps = ["a", "b", "c", "d"];
  writeFileSync(join(dir, "Makefile"), sleeps.map((n) => `test-s${n}:\n\t@sleep 1\n`).join(""));
  writeFileSync(
    join(dir, "devflow.toml"),
    `[project]\nname = "bench"\nstack = ["custom"]\n[cache]\ntasks = false\n[targets]\npr = [${sleeps.map((n) => `"test:s${n}"`).join(", ")}]\n`,
  );
  const par: number[] = [];
  const seq: number[] = [];
  for (let i = 0; i < 3; i++) {
    par.push(timeOnce([dwf, "verify", "--jobs", "4"], { cwd: dir, env }));
    seq.push(timeOnce([dwf, "verify", "--jobs", "1"], { cwd: dir, env }));
  }
  row("4 x sleep 1, --jobs 4", median(par), "same, --jobs 1", median(seq), "target <= 1200 ms");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
