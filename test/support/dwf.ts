// Test support: build the real `dwf` binary once per test run, run it as a user would,
// and make throwaway fixture repositories.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, chmodSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll } from "bun:test";
import { GIT_IDENTITY } from "./git.ts";

export { GIT_IDENTITY };

export const ROOT = resolve(import.meta.dir, "../..");
const BIN = join(ROOT, "dist", "dwf");
let built = false;

/** Path of the compiled binary, built (once per process) from the current sources. */
export function dwfBinary(): string {
  if (process.env.DWF_TEST_BINARY) return process.env.DWF_TEST_BINARY;
  if (!built) {
    const r = Bun.spawnSync([process.execPath, "run", join(ROOT, "scripts/build.ts")], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`building dwf failed:\n${r.stderr.toString()}${r.stdout.toString()}`);
    built = true;
    // Later test files in the same process reuse this build.
    process.env.DWF_TEST_BINARY = BIN;
  }
  return BIN;
}

export interface DwfResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout + stderr, for assertions that do not care which stream. */
  all: string;
  ms: number;
}

/** Env for child dwf runs: no colours, no CI detection leaking in from the outer run. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (k.startsWith("DWF_") && k !== "DWF_TEST_BINARY") continue;
    if (k.startsWith("GITHUB_") || k === "CI" || k === "RUST_LOG" || k === "IS_CONTAINER") continue;
    env[k] = v;
  }
  env.NO_COLOR = "1";
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export async function runDwf(
  args: string[],
  opts: { cwd: string; env?: Record<string, string | undefined>; timeoutMs?: number; stdin?: string } = { cwd: ROOT },
): Promise<DwfResult> {
  const started = performance.now();
  const proc = Bun.spawn([dwfBinary(), ...args], {
    cwd: opts.cwd,
    env: cleanEnv(opts.env),
    stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  clearTimeout(timer);
  return { code, stdout, stderr, all: stdout + stderr, ms: performance.now() - started };
}

const fixtures: string[] = [];
afterAll(() => {
  for (const dir of fixtures.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * A throwaway repository. Values ending up in files; an entry whose value starts with
 * "#!" is made executable. `git: true` makes it a git repository with one commit.
 */
export function fixture(files: Record<string, string>, opts: { git?: boolean; from?: string } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "dwf-test-"));
  fixtures.push(dir);
  if (opts.from) cpSync(join(ROOT, "test/fixtures", opts.from), dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    if (content.startsWith("#!")) chmodSync(path, 0o755);
  }
  if (opts.git) {
    const git = (...a: string[]) =>
      Bun.spawnSync(["git", ...a], {
        cwd: dir,
        env: { ...process.env, ...GIT_IDENTITY },
      });
    git("init", "-q", "-b", "main");
    git("add", "-A");
    git("commit", "-q", "-m", "fixture");
  }
  return dir;
}

export function which(program: string): string | null {
  return Bun.which(program);
}
