// Shared benchmark helpers: run a command N times, take the median, print ratio rows.
// Every figure is compared with a baseline measured in the same run (the host is noisy).
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");

export function timeOnce(argv: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): number {
  const t = performance.now();
  const r = Bun.spawnSync(argv, {
    cwd: opts.cwd,
    env: opts.env ?? (process.env as Record<string, string>),
    stdout: "ignore",
    stderr: "pipe",
  });
  const ms = performance.now() - t;
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} exited ${r.exitCode}: ${r.stderr.toString().slice(0, 500)}`);
  return ms;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median wall time of `runs` runs after `warmup` unmeasured ones, alternating A/B to share noise. */
export function compare(a: () => number, b: () => number, runs: number, warmup = 2): [number, number] {
  for (let i = 0; i < warmup; i++) {
    a();
    b();
  }
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < runs; i++) {
    ta.push(a());
    tb.push(b());
  }
  return [median(ta), median(tb)];
}

export function row(name: string, value: number, baselineName: string, baseline: number, target?: string): void {
  const ratio = value / baseline;
  console.log(
    `${name.padEnd(44)} ${value.toFixed(2).padStart(9)} ms   ${baselineName.padEnd(26)} ${baseline.toFixed(2).padStart(9)} ms   ${ratio.toFixed(2)}x${target ? `   (${target})` : ""}`,
  );
}

export function dwfPath(): string {
  return process.env.DWF_BIN ?? join(ROOT, "dist", "dwf");
}

/** Build dist/dwf from the current sources so a benchmark never times a stale binary; DWF_BIN names a binary to time instead. */
export function buildDwf(): string {
  if (process.env.DWF_BIN) return process.env.DWF_BIN;
  const r = Bun.spawnSync([process.execPath, "run", join(ROOT, "scripts/build.ts")], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`building dwf failed:\n${r.stdout.toString()}${r.stderr.toString()}`);
  return dwfPath();
}
