// Per-task overhead of a container task through dwf against the same `podman run` typed by
// hand, measured side by side in one run (alternating, medians). Target: ≤ 1.15×.
// Usage: bun run bench/container.ts [runs]
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { containerProject, ensureBaseImage, removeContainers, removeImages } from "../test/support/podman.ts";

const runs = Number(process.argv[2] ?? 20);
const root = resolve(import.meta.dir, "..");
const dwf = join(root, "dist/dwf");
if (Bun.spawnSync([process.execPath, "run", join(root, "scripts/build.ts")], { cwd: root }).exitCode !== 0) throw new Error("build failed");
ensureBaseImage();

const token = Math.random().toString(36).slice(2, 8);
const image = `localhost/dwf-bench-${token}`;
const dir = mkdtempSync(join(tmpdir(), "dwf-bench-"));
const files = containerProject({ name: `bench-${token}`, image, makefile: { "test-unit": ["true"] } });
for (const [name, content] of Object.entries(files)) {
  mkdirSync(dirname(join(dir, name)), { recursive: true });
  writeFileSync(join(dir, name), content);
  if (content.startsWith("#!")) chmodSync(join(dir, name), 0o755);
}
const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1" };
delete env.DWF_LOG;

function time(argv: string[]): number {
  const t = performance.now();
  const r = Bun.spawnSync(argv, { cwd: dir, env, stdout: "ignore", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr.toString()}`);
  return performance.now() - t;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  const ref = Bun.spawnSync([dwf, "image", "build"], { cwd: dir, env, stderr: "ignore" }).stdout.toString().trim();
  const uid = `${process.getuid!()}:${process.getgid!()}`;
  const byHand = (i: number) => ["podman", "run", "--rm", "--name", `dwf-bench-hand-${token}-${i}`, "-v", `${dir}:/workspace`, "-w", "/workspace", "--user", uid, ref, "make", "test-unit"];
  const viaDwf = [dwf, "verify", "--profile", "container", "--no-cache"];
  for (let i = 0; i < 3; i++) (time(viaDwf), time(byHand(-i - 1)));
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    b.push(time(byHand(i)));
    a.push(time(viaDwf));
  }
  const ratio = median(a) / median(b);
  console.log(`podman run by hand: ${median(b).toFixed(1)} ms (median of ${runs})`);
  console.log(`dwf verify (1 container task): ${median(a).toFixed(1)} ms`);
  console.log(`ratio dwf / by hand: ${ratio.toFixed(3)}×  (target ≤ 1.15×) ${ratio <= 1.15 ? "OK" : "OVER"}`);
} finally {
  removeContainers(`dwf-bench-`);
  removeImages(image);
  rmSync(dir, { recursive: true, force: true });
}
