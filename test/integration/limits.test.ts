// Hostile or broken input ends in one clear message, and signals end dwf the conventional way:
// profiles that include each other exponentially or 20,000 deep, wrong-typed config values,
// SIGHUP, SIGTERM during an image build, a dwf init that cannot write everything, and
// concurrent `cache prune --all`. Each through the compiled binary.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, dwfBinary, fixture, runDwf } from "../support/dwf.ts";
import { BASE_IMAGE, ensureBaseImage, podmanAvailable, removeImages } from "../support/podman.ts";
import { currentVersion, startReleaseServer } from "../support/release-server.ts";

setDefaultTimeout(60_000);

const custom = (targets: string) =>
  fixture({
    "devflow.toml": `[project]\nstack = ["custom"]\n\n[targets]\n${targets}`,
    Makefile: "test-unit:\n\t@sleep 30\nlint-static:\n\t@true\n",
  });

describe("profile expansion is linear and bounded", () => {
  test("30 profiles each including the next twice plan at once (2^30 paths, 31 profiles)", async () => {
    const lines = Array.from({ length: 30 }, (_, i) => `p${i} = ["check:p${i + 1}", "check:p${i + 1}"]`);
    const dir = custom(`${lines.join("\n")}\np30 = ["lint:static"]\npr = ["check:p0"]\n`);
    for (const args of [
      ["verify", "--dry-run"],
      ["ci", "plan"],
    ]) {
      const r = await runDwf(args, { cwd: dir, timeoutMs: 20_000 });
      expect(r.code).toBe(0);
      expect(r.ms).toBeLessThan(10_000);
      expect(r.all).toContain("lint:static");
    }
  });

  test("40 such profiles (the 1.3 KB config that used to hang) are too deep: exit 2 naming them", async () => {
    const lines = Array.from({ length: 40 }, (_, i) => `p${i} = ["check:p${i + 1}", "check:p${i + 1}"]`);
    const dir = custom(`${lines.join("\n")}\np40 = ["lint:static"]\npr = ["check:p0"]\n`);
    expect(readFileSync(join(dir, "devflow.toml")).length).toBeLessThan(1600);
    for (const args of [["verify"], ["ci", "plan"]]) {
      const r = await runDwf(args, { cwd: dir, timeoutMs: 20_000 });
      expect(r.code).toBe(2);
      // verify names the chain from the profile asked for; ci plan checks every profile, p0 first.
      expect(r.stderr).toMatch(/profiles include each other more than 32 levels deep \((pr -> )?p0 -> p1 -> p2 -> (p3 -> )?… -> /);
      expect(r.stderr).not.toContain("internal error");
    }
  });

  test("a 20,000-deep chain and a cycle are exit 2, not a stack overflow", async () => {
    const chain = Array.from({ length: 20_000 }, (_, i) => `c${i} = ["check:c${i + 1}"]`).join("\n");
    const deep = await runDwf(["verify"], { cwd: custom(`${chain}\nc20000 = ["lint:static"]\npr = ["check:c0"]\n`), timeoutMs: 30_000 });
    expect(deep.code).toBe(2);
    expect(deep.stderr).toContain("more than 32 levels deep");
    expect(deep.stderr).not.toContain("Maximum call stack");
    const cycle = await runDwf(["verify"], { cwd: custom(`a = ["check:b"]\nb = ["check:c"]\nc = ["check:a"]\npr = ["check:a"]\n`) });
    expect(cycle.code).toBe(2);
    expect(cycle.stderr).toContain("profiles include each other in a cycle (a -> b -> c -> a)");
  });
});

describe("config messages say what was found", () => {
  test("a value where a table belongs, and nan", async () => {
    const table = await runDwf(["verify"], { cwd: fixture({ "devflow.toml": "project = 5\n" }) });
    expect(table.code).toBe(2);
    expect(table.stderr).toContain("devflow.toml: project: expected a table, found number 5.");
    expect(table.stderr).not.toContain("Did you mean");
    const nan = await runDwf(["verify"], { cwd: fixture({ "devflow.toml": "[extensions.x]\ntimeout = nan\n" }) });
    expect(nan.code).toBe(2);
    expect(nan.stderr).toContain("extensions.x.timeout: expected a number, found nan.");
    const inf = await runDwf(["verify"], { cwd: fixture({ "devflow.toml": "[extensions.x]\ntimeout = inf\n" }) });
    expect(inf.stderr).toContain("extensions.x.timeout: expected a number of at most 3600, found inf.");
  });
});

describe("signals", () => {
  test("SIGHUP ends a run with 129, SIGTERM with 143, SIGINT with 130", async () => {
    for (const [sig, code] of [
      ["SIGHUP", 129],
      ["SIGTERM", 143],
      ["SIGINT", 130],
    ] as const) {
      const dir = custom(`pr = ["test:unit"]\n`);
      const proc = Bun.spawn([dwfBinary(), "verify", "--no-cache"], { cwd: dir, env: cleanEnv(), stdout: "pipe", stderr: "pipe" });
      const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
      let seen = "";
      while (!seen.includes("test:unit")) seen += new TextDecoder().decode((await reader.read()).value ?? new Uint8Array());
      proc.kill(sig);
      expect(await proc.exited).toBe(code);
    }
  });

  test.skipIf(!podmanAvailable())(
    "SIGTERM to dwf during an image build stops the build and exits 143",
    async () => {
      ensureBaseImage();
      const image = "localhost/dwf-test-sigterm-build";
      const dir = fixture({
        "devflow.toml": `[project]\nstack = ["custom"]\n\n[container]\nimage = "${image}"\nengine = "podman"\n\n[targets]\npr = ["test:unit"]\n`,
        Makefile: "test-unit:\n\t@true\n",
        "Dockerfile.devflow": `FROM ${BASE_IMAGE}\nRUN sleep 120\n`,
      });
      try {
        const proc = Bun.spawn([dwfBinary(), "image", "build"], { cwd: dir, env: cleanEnv(), stdout: "pipe", stderr: "pipe" });
        const reader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
        let seen = "";
        while (!seen.includes("RUN sleep 120")) {
          const chunk = await reader.read();
          if (chunk.done) break;
          seen += new TextDecoder().decode(chunk.value);
        }
        expect(seen).toContain("RUN sleep 120");
        const sent = performance.now();
        proc.kill("SIGTERM");
        const code = await proc.exited;
        expect(code).toBe(143);
        // Well before the build's 120 s: the engine was told to stop, not waited for.
        expect(performance.now() - sent).toBeLessThan(30_000);
        const builds = Bun.spawnSync(["pgrep", "-f", "podman build -t " + image])
          .stdout.toString()
          .trim();
        expect(builds).toBe("");
      } finally {
        removeImages(image);
      }
    },
    120_000,
  );
});

describe("all or nothing", () => {
  test("dwf init writes every file or none when a later one cannot be written", async () => {
    const dir = fixture({ Makefile: "test:\n\t@true\n", ".github": "a file where a folder should be\n" });
    // The workflow pins dwf by checksum: a loopback release supplies it, so init writes the workflow too.
    const release = startReleaseServer({ [`v${currentVersion()}`]: { SHA256SUMS: `${"c".repeat(64)}  dwf-linux-x64.tar.gz\n` } });
    const env = { DWF_DOWNLOAD_BASE: release.base };
    try {
      const plan = await runDwf(["init", "--dry-run"], { cwd: dir, env });
      expect(plan.all).toContain(".github/workflows/ci.yml");
      const r = await runDwf(["init"], { cwd: dir, env });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("dwf init wrote nothing");
      expect(readdirSync(dir).sort()).toEqual([".github", "Makefile"]);
    } finally {
      release.stop();
    }
  });

  test("two `cache prune --all` at once both succeed", async () => {
    const dir = custom(`pr = ["lint:static"]\n`);
    await runDwf(["lint:static"], { cwd: dir });
    const tasks = join(dir, ".cache/devflow/tasks");
    for (let i = 0; i < 3000; i++) {
      const key = Bun.CryptoHasher.hash("sha256", String(i), "hex");
      mkdirSync(join(tasks, key.slice(0, 2)), { recursive: true });
      writeFileSync(
        join(tasks, key.slice(0, 2), `${key}.json`),
        JSON.stringify({ version: 1, key, task: "t@custom", durationMs: 1, output: "", created: "2026-01-01T00:00:00Z" }),
      );
    }
    const [a, b] = await Promise.all([
      runDwf(["cache", "prune", "--all"], { cwd: dir }),
      runDwf(["cache", "prune", "--all"], { cwd: dir }),
    ]);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(a.all + b.all).not.toContain("ENOENT");
    expect(existsSync(join(tasks, "00"))).toBe(false);
  });
});
