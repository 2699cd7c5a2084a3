// The CI emulator is strict where GitHub is: expressions outside the subset, unknown actions and
// unpinned refs fail loudly; status functions and `needs` work as on the hosted runner.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, utimesSync, writeFileSync, statSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { evaluate, interpolate, runWorkflow, type Runner } from "../../support/gha-emulator.ts";
import { fixture, GIT_IDENTITY } from "../../support/dwf.ts";
import { uses } from "../../../src/ci/github/actions.ts";
import { restoreMtimes, saveMtimes } from "../../../src/ci/mtimes.ts";

const ctx = (values: Record<string, unknown>, status = { success: true, failure: false, cancelled: false }) => ({
  status,
  lookup: (path: string[]) => path.reduce<any>((v, k) => (v == null ? undefined : v[k]), values),
});

describe("expressions", () => {
  test("the generator's subset: contexts, ==, !=, &&, ||, !, status functions", () => {
    const c = ctx({
      needs: { image: { result: "skipped", outputs: { ref: "" } }, "image-pr": { result: "success", outputs: { ref: "x@sha256:1" } } },
      github: { event_name: "push" },
    });
    expect(evaluate("needs.image.outputs.ref || needs.image-pr.outputs.ref", c)).toBe("x@sha256:1");
    expect(evaluate("!cancelled() && (needs.image.result == 'success' || needs.image-pr.result == 'success')", c)).toBe(true);
    expect(evaluate("github.event_name != 'pull_request'", c)).toBe(true);
    expect(interpolate("a-${{ github.event_name }}-b", c)).toBe("a-push-b");
  });

  test("anything else fails loudly", () => {
    const c = ctx({});
    expect(() => evaluate("hashFiles('**/Cargo.lock')", c)).toThrow(/hashFiles\(\) is not emulated/);
    expect(() => evaluate("1 > 2", c)).toThrow(/unsupported character '>'/);
  });
});

describe("runWorkflow", () => {
  /** A git repository holding just this workflow, as a checkout would give it. */
  const repo = (workflow: string): string => fixture({ ".github/workflows/ci.yml": workflow }, { git: true });
  const runner = (): Runner => ({
    cacheDir: mkdtempSync(join(tmpdir(), "dwf-emu-cache-")),
    registry: "127.0.0.1:1",
    dockerHost: "unix:///nonexistent",
    releaseBase: "http://127.0.0.1:1",
    env: {},
  });

  test("outputs flow through needs; a failing step fails its job and skips dependants; an unknown action fails at set-up", async () => {
    const dir = repo(`on: { push: { branches: [main] } }
jobs:
  a:
    runs-on: ubuntu-latest
    outputs: { v: "\${{ steps.s.outputs.v }}" }
    steps:
      - uses: ${uses("checkout")}
      - id: s
        run: |
          test -f .github/workflows/ci.yml
          echo "v=hello" >> "$GITHUB_OUTPUT"
          echo "/opt/extra" >> "$GITHUB_PATH"
  b:
    needs: a
    runs-on: ubuntu-latest
    steps:
      - run: '[ "\${{ needs.a.outputs.v }}" = hello ] && case "$PATH" in /opt/extra:*) exit 1;; esac'
      - run: exit 3
      - if: failure()
        run: echo cleanup
  c:
    needs: b
    runs-on: ubuntu-latest
    steps:
      - run: echo never
  d:
    runs-on: ubuntu-latest
    steps:
      - if: false
        uses: actions/setup-node@v4
  e:
    runs-on: ubuntu-latest
    steps:
      - run: echo "\${{ matrix.os }}"
`);
    try {
      const r = await runWorkflow(runner(), { repo: dir, branch: "main", event: "push" });
      expect(r.jobs.a!.result).toBe("success");
      expect(r.jobs.a!.outputs.v).toBe("hello");
      expect(r.jobs.b!.result).toBe("failure");
      expect(r.jobs.b!.steps.map((s) => s.outcome)).toEqual(["success", "failure", "success"]);
      expect(r.jobs.c!.result).toBe("skipped");
      expect(r.jobs.d!.result).toBe("failure");
      expect(r.jobs.d!.error).toContain("Unable to resolve action `actions/setup-node@v4`");
      expect(r.jobs.e!.error).toContain("context 'matrix' is not emulated");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a pinned action at another ref does not resolve either", async () => {
    const dir = repo(`on: { push: {} }\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v7.0.1\n`);
    try {
      const r = await runWorkflow(runner(), { repo: dir, branch: "main", event: "push" });
      expect(r.jobs.a!.error).toContain("unable to find version `v7.0.1`");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("dwf ci mtimes", () => {
  test("unchanged files get the recorded times back; a changed file keeps its new time", () => {
    const dir = mkdtempSync(join(tmpdir(), "dwf-mtimes-"));
    const cache = join(dir, ".cache");
    const git = (...a: string[]) =>
      Bun.spawnSync(["git", ...a], {
        cwd: dir,
        env: { ...process.env, ...GIT_IDENTITY },
      });
    try {
      writeFileSync(join(dir, "same.rs"), "fn a() {}\n");
      writeFileSync(join(dir, "edited.rs"), "fn b() {}\n");
      git("init", "-q");
      git("add", "-A");
      git("commit", "-q", "-m", "x");
      const old = new Date("2026-01-01T00:00:00Z");
      for (const f of ["same.rs", "edited.rs"]) utimesSync(join(dir, f), old, old);
      expect(saveMtimes(dir, cache)).toBe(2);
      // A later checkout: every file new, one of them with other content.
      writeFileSync(join(dir, "edited.rs"), "fn b() { 1; }\n");
      git("commit", "-qam", "edit");
      const now = new Date();
      for (const f of ["same.rs", "edited.rs"]) utimesSync(join(dir, f), now, now);
      expect(restoreMtimes(dir, cache)).toEqual({ restored: 1, changed: 1, stamped: true });
      expect(statSync(join(dir, "same.rs")).mtimeMs).toBe(old.getTime());
      expect(statSync(join(dir, "edited.rs")).mtimeMs).toBe(now.getTime());
      expect(readFileSync(join(cache, "ci", "mtimes.json"), "utf8")).toContain("same.rs");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
