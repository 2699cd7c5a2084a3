// `dwf warm <command>`: runs the stacks' warm actions (Rust: lint:static's clippy), so the
// command run afterwards finds its tool's outputs for the dependencies in place. Real cargo on
// the host (Debian's, which needs no ~/.rustup), a path-dependency crate, the compiled dwf.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { fixture, runDwf } from "../support/dwf.ts";

/** A PATH whose cargo has clippy and works with the test's HOME. */
function clippyPath(): string {
  const works = (path: string) =>
    Bun.spawnSync(["cargo", "clippy", "--version"], { env: { ...process.env, PATH: path }, stdout: "pipe", stderr: "pipe" }).exitCode === 0;
  const path = process.env.PATH ?? "";
  if (works(`/usr/bin:${path}`)) return `/usr/bin:${path}`;
  if (works(path)) return path;
  throw new Error("this test needs cargo with clippy (apt-get install cargo rust-clippy)");
}

const FILES: Record<string, string> = {
  "Cargo.toml": '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\nhelper = { path = "helper" }\n',
  "src/main.rs": 'fn main() {\n    println!("{}", helper::answer());\n}\n',
  "helper/Cargo.toml": '[package]\nname = "helper"\nversion = "0.1.0"\nedition = "2021"\n',
  "helper/src/lib.rs": "pub fn answer() -> u32 {\n    42\n}\n",
  "devflow.toml": '[targets]\npr = ["fmt:check", "lint:static", "build:debug"]\n',
  ".gitignore": "target/\n.cache/\n",
};

describe("dwf warm", () => {
  test("warming lint:static leaves clippy nothing to check in the dependency; not cached; other commands have nothing to warm", async () => {
    const dir = fixture(FILES, { git: true });
    const env = { PATH: clippyPath(), CARGO_HOME: join(dir, ".cargo-home") };
    const host = ["--profile", "host", "--verbose"];
    expect((await runDwf(["build:debug", ...host], { cwd: dir, env, timeoutMs: 300_000 })).code).toBe(0);
    // Without warming, clippy checks the dependency crate a build compiled.
    const warm = await runDwf(["warm", "lint:static", "fmt:check", ...host], { cwd: dir, env, timeoutMs: 300_000 });
    expect(warm.code).toBe(0);
    expect(warm.all).toMatch(/Checking helper/);
    expect(warm.all).toContain("nothing to warm");
    const lint = await runDwf(["lint:static", ...host], { cwd: dir, env, timeoutMs: 300_000 });
    expect(lint.code).toBe(0);
    expect(lint.all).not.toMatch(/Checking helper|Compiling helper/);
    // A warm action is run for its outputs, never replayed from the task cache.
    const again = await runDwf(["warm", "lint:static", ...host, "--json"], { cwd: dir, env, timeoutMs: 300_000 });
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).tasks.map((t: any) => [t.id, t.status])).toEqual([["lint:static@rust", "passed"]]);
  }, 600_000);

  test("a failing warm action is a warning (exit 0); the command itself fails", async () => {
    const dir = fixture(
      { ...FILES, "src/main.rs": 'fn main() {\n    let unused = 1;\n    println!("{}", helper::answer());\n}\n' },
      { git: true },
    );
    const env = { PATH: clippyPath(), CARGO_HOME: join(dir, ".cargo-home") };
    const warm = await runDwf(["warm", "lint:static", "--profile", "host"], { cwd: dir, env, timeoutMs: 300_000 });
    expect(warm.code).toBe(0);
    expect(warm.stderr).toContain("warming lint:static@rust failed; 'dwf lint:static' reports it where it runs.");
    const lint = await runDwf(["lint:static", "--profile", "host"], { cwd: dir, env, timeoutMs: 300_000 });
    expect(lint.code).toBe(1);
  }, 600_000);

  test("a profile with nothing to warm passes (exit 0): the checks are judged where they run", async () => {
    const dir = fixture({
      Makefile: "test-unit:\n\t@true\n",
      "devflow.toml": '[project]\nstack = ["custom"]\n[targets]\npr = ["test:unit"]\n',
    });
    const r = await runDwf(["warm", "check:pr", "--profile", "host"], { cwd: dir });
    expect(r.stdout).toContain("nothing to warm");
    expect(r.stderr).not.toContain("ran nothing");
    expect(r.code).toBe(0);
  });

  test("without commands it is a usage error", async () => {
    const dir = fixture(FILES);
    const r = await runDwf(["warm"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain("    at ");
  });
});
