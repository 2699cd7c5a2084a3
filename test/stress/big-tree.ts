// Big trees: a generated tree of N files (default 100,000), timed and measured with
// /usr/bin/time -v (peak RSS): `dwf fingerprint` and the task cache's tree hashing
// (`dwf verify` of one cacheable task, cold then warm). Target: peak RSS <= 300 MB.
// Usage: bun test/stress/big-tree.ts [--files 100000] [--keep]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binary, cleanChildEnv, flag } from "./_util.ts";
import { BASE_IMAGE, ensureBaseImage } from "../support/podman.ts";

const files = Number(flag("--files") ?? 100_000);
const bin = binary();
const TIME = "/usr/bin/time";
if (!Bun.which(TIME)) {
  console.error("needs /usr/bin/time (apt-get install -y time)");
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), "dwf-big-"));
const started = performance.now();
// 1,000 files per folder, 10 folders per level: shaped like a large monorepo, not one flat dir.
for (let i = 0; i < files; i++) {
  const sub = join(dir, "src", `d${Math.floor(i / 10_000)}`, `e${Math.floor(i / 1000) % 10}`);
  if (i % 1000 === 0) mkdirSync(sub, { recursive: true });
  writeFileSync(join(sub, `f${i}.txt`), `file ${i}\n`);
}
writeFileSync(join(dir, "Makefile"), "test-unit:\n\t@true\n");
ensureBaseImage();
writeFileSync(join(dir, "Dockerfile.devflow"), `FROM ${BASE_IMAGE}\n`);
writeFileSync(
  join(dir, "devflow.toml"),
  `[project]\nstack = ["custom"]\n[targets]\npr = ["test:unit"]\n[container]\nimage = "localhost/dwf-big"\nfingerprint_inputs = ["src"]\n`,
);
Bun.spawnSync(["git", "init", "-q"], { cwd: dir });
Bun.spawnSync(["git", "add", "-A"], { cwd: dir });
console.log(`big-tree: ${files} files generated in ${((performance.now() - started) / 1000).toFixed(1)} s at ${dir}`);

interface Measure {
  what: string;
  code: number;
  seconds: number;
  rssMb: number;
}

function measure(what: string, args: string[]): Measure {
  // -o: the report goes to a file; on a shared stderr pipe the binary's non-blocking mode made
  // time's own write fail half-way (EAGAIN), which looked like exit 1.
  const report = join(dir, ".time-report");
  const r = Bun.spawnSync([TIME, "-v", "-o", report, bin, ...args], {
    cwd: dir,
    env: cleanChildEnv({ DWF_PROFILE: "host" }),
    stdout: "pipe",
    stderr: "pipe",
  });
  const err = readFileSync(report, "utf8");
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(err)?.[1] ?? 0) / 1024;
  const wall = /Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+):([\d.]+)/.exec(err);
  const seconds = wall ? Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]) : NaN;
  if (r.exitCode !== 0)
    console.log(`  ${what}: exit ${r.exitCode}\n${r.stdout.toString().slice(-600)}\n${r.stderr.toString().slice(-600)}`);
  return { what, code: r.exitCode ?? -1, seconds, rssMb: rss };
}

const results = [
  measure("dwf fingerprint (fingerprint_inputs = [src], cold)", ["fingerprint"]),
  measure("dwf fingerprint (warm)", ["fingerprint"]),
  measure("dwf verify: task cache tree hash, cold (stores)", ["verify"]),
  measure("dwf verify: task cache tree hash, warm (replays)", ["verify"]),
  measure("dwf verify --no-cache (no tree hash, baseline)", ["verify", "--no-cache"]),
];
for (const m of results)
  console.log(
    `${m.what.padEnd(52)} exit ${m.code}  ${m.seconds.toFixed(2)} s  peak RSS ${m.rssMb.toFixed(0)} MB${m.rssMb > 300 ? "  OVER 300 MB" : ""}`,
  );
if (!process.argv.includes("--keep")) rmSync(dir, { recursive: true, force: true });
process.exit(results.every((m) => m.code === 0 && m.rssMb <= 300) ? 0 : 1);
