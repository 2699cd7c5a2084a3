// Helpers shared by the stress scripts: the binary to run, flag parsing, a clean child env,
// and a check for leftover processes carrying a marker.
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "../..");

/**
 * dist/dwf built from the current sources (or DWF_TEST_BINARY), copied to a private temp file:
 * a rebuild of dist/dwf during a long run would otherwise fail spawns with ETXTBSY.
 */
export function binary(): string {
  let bin = process.env.DWF_TEST_BINARY;
  if (!bin) {
    const r = Bun.spawnSync([process.execPath, "run", join(ROOT, "scripts/build.ts")], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`build failed:\n${r.stderr.toString()}`);
    bin = join(ROOT, "dist/dwf");
  }
  if (!existsSync(bin)) throw new Error(`${bin} missing`);
  const dir = mkdtempSync(join(tmpdir(), "dwf-stress-bin-"));
  const copy = join(dir, "dwf");
  copyFileSync(bin, copy);
  chmodSync(copy, 0o755);
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return copy;
}

export function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The outer env without DWF_/CI/GitHub variables, colours off, plus `extra`. */
export function cleanChildEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith("DWF_") || k.startsWith("GITHUB_") || k === "CI") continue;
    env[k] = v;
  }
  return { ...env, NO_COLOR: "1", ...extra };
}

/** PIDs of live processes whose command line contains `marker` (never this process). */
export function pidsWith(marker: string): number[] {
  const r = Bun.spawnSync(["pgrep", "-f", marker], { stdout: "pipe" });
  return r.stdout
    .toString()
    .split("\n")
    .filter(Boolean)
    .map(Number)
    .filter((p) => p !== process.pid);
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}
