// Benchmark: hashing a 10,000-file git tree (17 MB) cold — no stat cache, so every file is
// read, as on a fresh clone or the first run — and warm (stat cache, nothing changed), against
// `git ls-files -z | xargs -0 -P2 -n 500 sha256sum` on the same tree. Each round samples dwf
// and the baseline one after the other (order alternating; the machine is shared), and the
// medians and their ratio are printed. `--compare <path to another tree-hash.ts>` times that
// implementation in the same rounds too (before/after figures from one run).
// Usage: bun bench/tree-hash.ts [--runs 15] [--compare /path/to/old/src/core/tree-hash.ts] [--parallel auto|on|off]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { hashTree } from "../src/cache/tree-hash.ts";
import { median } from "./_util.ts";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "15" }, compare: { type: "string" }, parallel: { type: "string", default: "auto" } },
});
/** --parallel on|off forces dwf's second thread on or off; auto is what dwf does (on with more than one core). */
const parallel = values.parallel === "on" ? true : values.parallel === "off" ? false : undefined;
const RUNS = Number(values.runs);
type HashTree = typeof hashTree;
const other: HashTree | undefined = values.compare ? ((await import(values.compare)) as { hashTree: HashTree }).hashTree : undefined;
const work = mkdtempSync(join(tmpdir(), "dwf-bench-hash-"));

function git(cwd: string, ...args: string[]): void {
  const r = Bun.spawnSync(["git", ...args], { cwd, stdout: "ignore", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr.toString()}`);
}

try {
  const big = join(work, "big");
  for (let d = 0; d < 100; d++) {
    mkdirSync(join(big, `d${d}`), { recursive: true });
    for (let f = 0; f < 100; f++) writeFileSync(join(big, `d${d}`, `f${f}.txt`), `${d}/${f}\n`.repeat(100 + ((d * 7 + f) % 400)));
  }
  git(big, "init", "-q");
  git(big, "add", "-A");
  git(big, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "big");
  // Files older than the racy window, as in any tree not being edited this second.
  await Bun.sleep(2100);
  const cacheRoot = join(work, "cache");
  const baseline = () => {
    const t = performance.now();
    const r = Bun.spawnSync(["sh", "-c", "git ls-files -z | xargs -0 -P2 -n 500 sha256sum > /dev/null"], { cwd: big });
    if (r.exitCode !== 0) throw new Error("baseline failed");
    return performance.now() - t;
  };
  let bytes = 0;
  let onWorker = 0;
  /** One cold then one warm hash with this implementation. */
  const sample = async (impl: HashTree): Promise<[number, number]> => {
    rmSync(cacheRoot, { recursive: true, force: true });
    let t = performance.now();
    const c = await impl(big, { cacheRoot, ...(impl === hashTree && parallel !== undefined ? { parallel } : {}) });
    const cold = performance.now() - t;
    if (c.stats.read !== 10_000) throw new Error(`cold hash read ${c.stats.read} files`);
    bytes = c.stats.bytesRead;
    if (impl === hashTree) onWorker = Math.max(onWorker, c.stats.readOnWorker ?? 0);
    t = performance.now();
    const w = await impl(big, { cacheRoot });
    const warm = performance.now() - t;
    if (w.stats.read !== 0) throw new Error(`warm hash re-read ${w.stats.read} files`);
    return [cold, warm];
  };
  const runs = { base: [] as number[], cold: [] as number[], warm: [] as number[], otherCold: [] as number[], otherWarm: [] as number[] };
  for (let i = 0; i < RUNS + 2; i++) {
    const steps: (() => Promise<void>)[] = [
      async () => void runs.base.push(baseline()),
      async () => {
        const [c, w] = await sample(hashTree);
        runs.cold.push(c);
        runs.warm.push(w);
      },
    ];
    if (other)
      steps.push(async () => {
        const [c, w] = await sample(other);
        runs.otherCold.push(c);
        runs.otherWarm.push(w);
      });
    // Rotate the order, so none always runs right after another.
    for (let j = 0; j < steps.length; j++) await steps[(i + j) % steps.length]!();
    if (i < 2) for (const list of Object.values(runs)) list.length = 0; // warm-up rounds
  }
  const base = median(runs.base);
  const cold = median(runs.cold);
  const warm = median(runs.warm);
  console.log(
    `Hashing 10,000 files (${(bytes / 1e6).toFixed(1)} MB), ${navigator.hardwareConcurrency} cores, median of ${RUNS} interleaved rounds:`,
  );
  console.log(
    `  second thread: ${onWorker ? `used (${onWorker} files)` : "not used"}; load average now ${loadavg()[0]!.toFixed(1)} on ${navigator.hardwareConcurrency} cores`,
  );
  console.log(`  baseline 'git ls-files | xargs -P2 sha256sum': ${base.toFixed(1)} ms`);
  console.log(
    `  cold (no stat cache):   ${cold.toFixed(1).padStart(7)} ms   ratio cold/baseline ${(cold / base).toFixed(2)}   (target <= 1.00: ${cold <= base ? "met" : "NOT met"})`,
  );
  console.log(`  warm (nothing changed): ${warm.toFixed(1).padStart(7)} ms   ratio warm/baseline ${(warm / base).toFixed(2)}`);
  if (other) {
    const oc = median(runs.otherCold);
    const ow = median(runs.otherWarm);
    console.log(
      `  --compare cold:         ${oc.toFixed(1).padStart(7)} ms   ratio ${(oc / base).toFixed(2)} of baseline; this tree's cold/compare ${(cold / oc).toFixed(2)}`,
    );
    console.log(`  --compare warm:         ${ow.toFixed(1).padStart(7)} ms   this tree's warm/compare ${(warm / ow).toFixed(2)}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
