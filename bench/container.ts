// Per-task overhead of a container task through dwf against the same `podman run` typed by
// hand, measured side by side in one run (alternating, medians). Target: ≤ 1.15×.
// Usage: bun run bench/container.ts [runs]
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { containerProject, ensureBaseImage, removeContainers, removeImages } from "../test/support/podman.ts";
import { buildDwf, compare, timeOnce } from "./_util.ts";

const runs = Number(process.argv[2] ?? 20);
const dwf = buildDwf();
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
const env = { ...process.env, NO_COLOR: "1" } as Record<string, string>;
delete env.DWF_LOG;
const time = (argv: string[]) => timeOnce(argv, { cwd: dir, env });

try {
  const ref = Bun.spawnSync([dwf, "image", "build"], { cwd: dir, env, stderr: "ignore" }).stdout.toString().trim();
  const uid = `${process.getuid!()}:${process.getgid!()}`;
  const byHand = (i: number) => [
    "podman",
    "run",
    "--rm",
    "--name",
    `dwf-bench-hand-${token}-${i}`,
    "-v",
    `${dir}:/workspace`,
    "-w",
    "/workspace",
    "--user",
    uid,
    ref,
    "make",
    "test-unit",
  ];
  const viaDwf = [dwf, "verify", "--profile", "container", "--no-cache"];
  // A container name per run: podman refuses a name that is still in use.
  let n = 0;
  const [handMs, dwfMs] = compare(
    () => time(byHand(n++)),
    () => time(viaDwf),
    runs,
    3,
  );
  const ratio = dwfMs / handMs;
  console.log(`podman run by hand: ${handMs.toFixed(1)} ms (median of ${runs})`);
  console.log(`dwf verify (1 container task): ${dwfMs.toFixed(1)} ms`);
  console.log(`ratio dwf / by hand: ${ratio.toFixed(3)}×  (target ≤ 1.15×) ${ratio <= 1.15 ? "OK" : "OVER"}`);
} finally {
  removeContainers(`dwf-bench-`);
  removeImages(image);
  rmSync(dir, { recursive: true, force: true });
}
