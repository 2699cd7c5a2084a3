// `dwf ci generate | check | plan` against fixture repositories, through the compiled binary.
// Every generated workflow must lint clean (actionlint) and its shell must pass shellcheck.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fixture, runDwf as runDwfRaw } from "../support/dwf.ts";
import { currentVersion, startReleaseServer } from "../support/release-server.ts";
import { actionlint, shellcheckRuns } from "../unit/ci/support.ts";

// The release the workflow pins, on loopback: generate reads its SHA256SUMS (never CI).
const VERSION = currentVersion();
const ARCHIVE_SHA = "c".repeat(64);
const release = startReleaseServer({
  [`v${VERSION}`]: { SHA256SUMS: `${"d".repeat(64)}  dwf-darwin-arm64.tar.gz\n${ARCHIVE_SHA}  dwf-linux-x64.tar.gz\n` },
});
afterAll(() => release.stop());
const runDwf = (args: string[], opts: { cwd: string; env?: Record<string, string | undefined> }) =>
  runDwfRaw(args, { ...opts, env: { DWF_DOWNLOAD_BASE: release.base, ...opts.env } });
const CONTAINER = '[runtime]\nprofile = "container"\n';

const WORKFLOW = ".github/workflows/ci.yml";

const STACKS: Record<string, Record<string, string>> = {
  rust: { "Cargo.toml": '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n', "src/main.rs": "fn main() {}\n" },
  node: {
    "package.json": JSON.stringify({ name: "app", scripts: { lint: "true", test: "true", build: "true", "fmt:check": "true" } }),
    "package-lock.json": "{}\n",
  },
  bun: { "package.json": JSON.stringify({ name: "app", scripts: { lint: "true", test: "true" } }), "bun.lock": "{}\n" },
  python: { "pyproject.toml": '[project]\nname = "app"\nversion = "0.1.0"\n' },
  go: { "go.mod": "module example.com/app\n\ngo 1.22\n" },
  custom: { Makefile: "fmt-check:\n\ttrue\nlint-static:\n\ttrue\nbuild-debug:\n\ttrue\ntest-unit:\n\ttrue\n" },
};

async function expectClean(text: string) {
  expect(await actionlint(text)).toEqual([]);
  expect(shellcheckRuns(text)).toEqual([]);
}

describe("dwf ci generate: every stack lints clean", () => {
  for (const [name, files] of Object.entries(STACKS)) {
    test(`${name} (default profiles)`, async () => {
      const dir = fixture(files, { git: true });
      const r = await runDwf(["ci", "generate", "--stdout"], { cwd: dir });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      await expectClean(r.stdout);
      // --stdout writes nothing.
      expect(existsSync(join(dir, WORKFLOW))).toBe(false);
    });
  }

  test("multi-stack, both modes, custom profile and platforms", async () => {
    for (const mode of ["jobs", "single"]) {
      const dir = fixture({
        ...STACKS.rust,
        ...STACKS.custom,
        "devflow.toml": `${CONTAINER}[project]\nstack = ["rust", "custom"]\n[container]\nimage = "ghcr.io/acme/app-ci"\nplatforms = ["linux/amd64", "linux/arm64"]\n[targets]\nnightly = ["setup:deps", "check:quick", "test:all"]\nquick = ["fmt:check", "lint:static"]\n[ci]\nmode = "${mode}"\nprofile = "nightly"\ndwf_version = "v2.0.1"\nbranch = "trunk"\n`,
      });
      const r = await runDwf(["ci", "generate", "--stdout", "--dwf-sha256", "E".repeat(64)], { cwd: dir });
      expect(r.code).toBe(0);
      await expectClean(r.stdout);
      const doc = Bun.YAML.parse(r.stdout) as any;
      expect(doc.env.DWF_VERSION).toBe("2.0.1");
      expect(doc.env.DWF_SHA256).toBe("e".repeat(64));
      expect(doc.on.push.branches).toEqual(["trunk"]);
      expect(r.stdout).toContain('echo "name=ghcr.io/acme/app-ci"');
      expect(r.stdout).toContain("docker/setup-qemu-action@");
      if (mode === "jobs")
        expect(Object.keys(doc.jobs)).toEqual(["image", "image-pr", "rescan", "warm", "fmt-check", "lint-static", "test-all"]);
      else expect(Object.keys(doc.jobs)).toEqual(["image", "image-pr", "rescan", "verify"]);
      // Rust builds into target/: it is cached beside the cache root.
      expect(r.stdout).toContain("            .cache/devflow\n            target\n");
    }
  });
});

describe("dwf ci generate / check", () => {
  const files = { ...STACKS.custom, "devflow.toml": `${CONTAINER}[targets]\npr = ["lint:static", "build:debug", "test:unit"]\n` };

  test("generate writes the workflow and bake file; same config gives byte-identical output; check passes", async () => {
    const dir = fixture(files, { git: true });
    const first = await runDwf(["ci", "generate"], { cwd: dir });
    expect(first.code).toBe(0);
    expect(first.stderr).toContain(`created ${WORKFLOW}`);
    const text = readFileSync(join(dir, WORKFLOW), "utf8");
    const bake = readFileSync(join(dir, "docker-bake.hcl"), "utf8");
    expect(bake).toContain("compression=zstd");
    await expectClean(text);
    const second = await runDwf(["ci", "generate"], { cwd: dir });
    expect(second.code).toBe(0);
    expect(second.stderr).toContain(`unchanged ${WORKFLOW}`);
    expect(readFileSync(join(dir, WORKFLOW), "utf8")).toBe(text);
    const check = await runDwf(["ci", "check"], { cwd: dir });
    expect(check.code).toBe(0);
    expect(check.stderr).toContain("in sync");
  });

  test("check fails with a unified diff after a hand edit, and generate fixes it", async () => {
    const dir = fixture(files, { git: true });
    expect((await runDwf(["ci", "generate"], { cwd: dir })).code).toBe(0);
    const path = join(dir, WORKFLOW);
    writeFileSync(path, readFileSync(path, "utf8").replace("  dwf test:unit\n", "  dwf test:unit || true\n"));
    const check = await runDwf(["ci:check"], { cwd: dir });
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(`--- ${WORKFLOW} (on disk)`);
    expect(check.stdout).toContain("-          dwf test:unit || true\n+          dwf test:unit\n");
    expect(check.stderr).toContain("Run 'dwf ci generate' to bring");
    expect((await runDwf(["ci", "generate"], { cwd: dir })).code).toBe(0);
    expect((await runDwf(["ci", "check"], { cwd: dir })).code).toBe(0);
  });

  test("check fails after a config change", async () => {
    const dir = fixture(files, { git: true });
    expect((await runDwf(["ci", "generate"], { cwd: dir })).code).toBe(0);
    writeFileSync(
      join(dir, "devflow.toml"),
      `${CONTAINER}[targets]\npr = ["lint:static", "build:debug", "test:unit"]\n[ci]\nmode = "single"\n`,
    );
    const check = await runDwf(["ci", "check"], { cwd: dir });
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(
      "+# Generated by `dwf ci generate` from devflow.toml (profile 'pr', mode 'single', runtime 'container')",
    );
    expect(check.stdout).toContain("+          dwf verify pr\n");
  });

  test("check on a missing workflow says so and exits 1", async () => {
    const dir = fixture(files, { git: true });
    const check = await runDwf(["ci", "check"], { cwd: dir });
    expect(check.code).toBe(1);
    expect(check.stderr).toContain(`${WORKFLOW} does not exist`);
    expect(check.stderr).toContain("dwf ci generate");
  });

  test("generate refuses to overwrite a hand-written workflow unless --force; keeps a hand-written bake file", async () => {
    const dir = fixture({ ...files, [WORKFLOW]: "name: mine\n", "docker-bake.hcl": "# mine\n" }, { git: true });
    const refused = await runDwf(["ci", "generate"], { cwd: dir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("not written by dwf");
    expect(refused.stderr).toContain("--force");
    expect(readFileSync(join(dir, WORKFLOW), "utf8")).toBe("name: mine\n");
    const forced = await runDwf(["ci", "generate", "--force"], { cwd: dir });
    expect(forced.code).toBe(0);
    expect(readFileSync(join(dir, WORKFLOW), "utf8")).toStartWith("# Generated by `dwf ci generate`");
    // --force replaces the workflow; the bake file is only replaced when dwf wrote it... or forced.
    expect(readFileSync(join(dir, "docker-bake.hcl"), "utf8")).toContain('target "ci"');
  });

  test("check on a hand-written workflow suggests the command that will replace it (--force)", async () => {
    const dir = fixture({ ...files, [WORKFLOW]: "name: mine\n" }, { git: true });
    const check = await runDwf(["ci", "check"], { cwd: dir });
    expect(check.code).toBe(1);
    expect(check.stderr).toContain("Run 'dwf ci generate --force' to bring");
  });

  test("a hand-written bake file is kept without --force, and check ignores it", async () => {
    const dir = fixture({ ...files, "docker-bake.hcl": "# mine\n" }, { git: true });
    const r = await runDwf(["ci", "generate"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("kept docker-bake.hcl");
    expect(readFileSync(join(dir, "docker-bake.hcl"), "utf8")).toBe("# mine\n");
    expect((await runDwf(["ci", "check"], { cwd: dir })).code).toBe(0);
  });

  test("--output writes elsewhere, and check reads the same path", async () => {
    const dir = fixture(files, { git: true });
    mkdirSync(join(dir, "ci"));
    expect((await runDwf(["ci", "generate", "--output", "ci/flow.yml"], { cwd: dir })).code).toBe(0);
    expect(existsSync(join(dir, "ci/flow.yml"))).toBe(true);
    expect((await runDwf(["ci", "check", "--output", "ci/flow.yml"], { cwd: dir })).code).toBe(0);
  });

  test("an unknown [ci] profile is a user error naming the key", async () => {
    const dir = fixture({ ...files, "devflow.toml": '[targets]\npr = ["test:unit"]\n[ci]\nprofile = "nope"\n' });
    const r = await runDwf(["ci", "generate", "--stdout"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("ci.profile");
    expect(r.stderr).toContain("'nope'");
    expect(r.stderr).not.toContain("    at ");
  });
});

describe("dwf ci plan", () => {
  test("per profile: jobs in order, exact dwf commands, image ref (--json)", async () => {
    const dir = fixture({
      ...STACKS.custom,
      "devflow.toml": `${CONTAINER}[container]\nimage = "ghcr.io/acme/app-ci"\n[targets]\npr = ["lint:static", "build:debug", "test:unit"]\nmain = ["check:pr", "fmt:check"]\n`,
    });
    const r = await runDwf(["ci", "plan", "--json"], { cwd: dir });
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.profile).toBe("pr");
    expect(plan.imageRef).toBe("ghcr.io/acme/app-ci:<fingerprint>");
    const pr = plan.profiles.find((p: any) => p.name === "pr");
    expect(pr.workflow).toBe(true);
    expect(pr.jobs.map((j: any) => [j.id, j.stage, j.commands])).toEqual([
      ["image", 1, []],
      ["image-pr", 1, []],
      ["rescan", 1, []],
      ["warm", 2, ["dwf build:debug"]],
      ["lint-static", 3, ["dwf lint:static"]],
      ["test-unit", 3, ["dwf test:unit"]],
    ]);
    // Each job lists the argv its tasks run in the image.
    expect(pr.jobs.find((j: any) => j.id === "lint-static").tasks).toEqual([
      { id: "lint:static@custom", command: "lint:static", stack: "custom", argv: ["make", "lint-static"] },
    ]);
    const main = plan.profiles.find((p: any) => p.name === "main");
    expect(main.jobs.map((j: any) => j.id)).toEqual(["image", "image-pr", "rescan", "warm", "lint-static", "test-unit", "fmt-check"]);
    const text = await runDwf(["ci", "plan"], { cwd: dir });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("ghcr.io/acme/app-ci:<fingerprint>");
    expect(text.stdout).toContain("profile 'pr' (the workflow runs this one)");
    expect(text.stdout).toMatch(/3\. lint-static\s+dwf lint:static/);
  });
});

describe("dwf ci generate: the dwf checksum", () => {
  const files = { ...STACKS.custom, "devflow.toml": `${CONTAINER}[targets]\npr = ["lint:static", "test:unit"]\n` };
  const shaOf = (text: string) => (Bun.YAML.parse(text) as any).env.DWF_SHA256;

  test("read from the pinned release's SHA256SUMS at generate time; reused from the workflow on disk after that", async () => {
    const dir = fixture(files, { git: true });
    const asked = release.requests.length;
    expect((await runDwf(["ci", "generate"], { cwd: dir })).code).toBe(0);
    expect(release.requests.slice(asked)).toEqual([`/v${VERSION}/SHA256SUMS`]);
    expect(shaOf(readFileSync(join(dir, WORKFLOW), "utf8"))).toBe(ARCHIVE_SHA);
    // Offline from here: check and a second generate read the checksum from the file.
    const offline = { DWF_DOWNLOAD_BASE: "http://127.0.0.1:9" };
    expect((await runDwf(["ci", "check"], { cwd: dir, env: offline })).code).toBe(0);
    const again = await runDwf(["ci", "generate"], { cwd: dir, env: offline });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(`unchanged ${WORKFLOW}`);
  });

  test("[ci] dwf_sha256 and --dwf-sha256 win; a bad value is a user error", async () => {
    const dir = fixture({ ...files, "devflow.toml": files["devflow.toml"] + `[ci]\ndwf_sha256 = "${"1".repeat(64)}"\n` }, { git: true });
    expect(shaOf((await runDwf(["ci", "generate", "--stdout"], { cwd: dir })).stdout)).toBe("1".repeat(64));
    expect(shaOf((await runDwf(["ci", "generate", "--stdout", "--dwf-sha256", "2".repeat(64)], { cwd: dir })).stdout)).toBe("2".repeat(64));
    const bad = await runDwf(["ci", "generate", "--stdout", "--dwf-sha256", "xyz"], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--dwf-sha256: 'xyz' is not a SHA-256");
  });

  test("a release that does not exist is a user error with the fix", async () => {
    const dir = fixture({ ...files, "devflow.toml": files["devflow.toml"] + '[ci]\ndwf_version = "9.9.9"\n' }, { git: true });
    const r = await runDwf(["ci", "generate", "--stdout"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("/v9.9.9/SHA256SUMS answered 404");
    expect(r.stderr).toContain("--dwf-sha256");
    expect(r.stderr).not.toContain("    at ");
  });
});

describe("dwf ci generate: runtime profile and build context", () => {
  test("host: no image jobs, no bake file, no .dockerignore", async () => {
    const dir = fixture(
      { ...STACKS.custom, "devflow.toml": '[runtime]\nprofile = "host"\n[targets]\npr = ["lint:static"]\n' },
      { git: true },
    );
    expect((await runDwf(["ci", "generate"], { cwd: dir })).code).toBe(0);
    const doc = Bun.YAML.parse(readFileSync(join(dir, WORKFLOW), "utf8")) as any;
    expect(Object.keys(doc.jobs)).toEqual(["lint-static"]);
    expect(existsSync(join(dir, "docker-bake.hcl"))).toBe(false);
    expect(existsSync(join(dir, ".dockerignore"))).toBe(false);
  });

  test("container and auto: image jobs and a .dockerignore that lets in only what the Dockerfile copies", async () => {
    for (const profile of ["container", "auto"]) {
      const dir = fixture(
        {
          ...STACKS.custom,
          "tools/pin.txt": "1\n",
          "Dockerfile.devflow": "FROM scratch\nCOPY tools/pin.txt /pin.txt\n",
          "devflow.toml": `[runtime]\nprofile = "${profile}"\n[targets]\npr = ["lint:static"]\n`,
        },
        { git: true },
      );
      expect((await runDwf(["ci", "generate"], { cwd: dir })).code).toBe(0);
      const doc = Bun.YAML.parse(readFileSync(join(dir, WORKFLOW), "utf8")) as any;
      expect(Object.keys(doc.jobs)).toEqual(["image", "image-pr", "rescan", "lint-static"]);
      const ignore = readFileSync(join(dir, ".dockerignore"), "utf8");
      expect(ignore.split("\n").filter((l) => l && !l.startsWith("#"))).toEqual(["*", "!Dockerfile.devflow", "!tools/pin.txt"]);
    }
  });
});

describe("local = CI", () => {
  // What each CI job runs, per task, must be exactly what a developer's
  // `dwf verify --dry-run --profile <the CI runtime>` shows for the same profile: in the image
  // under the container runtime, on the runner's own tools under the host runtime.
  const projects: Record<string, Record<string, string>> = {
    ...STACKS,
    "node+rust": {
      ...STACKS.rust,
      ...STACKS.node,
      "devflow.toml": '[project]\nstack = ["node", "rust"]\n[targets]\npr = ["fmt:check", "lint:static", "build:debug", "test:unit"]\n',
    },
  };
  for (const [name, files] of Object.entries(projects)) {
    test(`${name}: dwf ci plan --json argv = dwf verify --dry-run --json --profile <CI runtime>`, async () => {
      const dir = fixture(files, { git: true });
      const plan = await runDwf(["ci", "plan", "--json"], { cwd: dir });
      expect(plan.code).toBe(0);
      const p = JSON.parse(plan.stdout);
      const profile = p.profiles.find((x: any) => x.workflow);
      // The profile's own commands (the warm job may add setup:deps in front of them).
      const commands = new Set<string>(profile.commands);
      const ci = profile.jobs
        .flatMap((j: any) => j.tasks)
        .filter((t: any) => commands.has(t.command) && !t.warm)
        .map((t: any) => ({ id: t.id, argv: t.argv ?? null, skip: t.skip ?? null }))
        .sort((a: any, b: any) => a.id.localeCompare(b.id));
      const verify = await runDwf(["verify", "--dry-run", "--json", "--profile", p.runtime, p.profile], { cwd: dir });
      expect(verify.code).toBe(0);
      const local = JSON.parse(verify.stdout)
        .tasks.filter((t: any) => commands.has(t.command))
        .map((t: any) => ({ id: t.id, argv: t.program ? [t.program, ...t.args] : null, skip: t.skip ?? null }))
        .sort((a: any, b: any) => a.id.localeCompare(b.id));
      expect(ci.length).toBeGreaterThan(0);
      expect(ci).toEqual(local);
      // The warm job's `dwf warm …` plans what a developer's `dwf warm … --dry-run` plans.
      const warmStep = profile.jobs.find((j: any) => j.id === "warm")?.commands.find((c: string) => c.startsWith("dwf warm "));
      const warmCi = profile.jobs.flatMap((j: any) => j.tasks).filter((t: any) => t.warm);
      expect(warmCi.length > 0).toBe(warmStep !== undefined);
      if (warmStep) {
        const dry = await runDwf([...warmStep.split(" ").slice(1), "--dry-run", "--json", "--profile", "container"], { cwd: dir });
        expect(dry.code).toBe(0);
        const shown = (ts: any[]) =>
          ts.map((t: any) => ({ id: t.id, argv: t.argv ?? null, skip: t.skip ?? null })).sort((a, b) => a.id.localeCompare(b.id));
        const local = JSON.parse(dry.stdout).tasks.map((t: any) => ({ ...t, argv: t.program ? [t.program, ...t.args] : null }));
        expect(shown(warmCi)).toEqual(shown(local));
      }
    });
  }

  test("container runtime: the host PATH does not change what ci plan shows (python3 alone on PATH)", async () => {
    // Only python3 on PATH (no `python`): the host's answer would be `python3 -m pytest`, but
    // both commands ask the image (or, without it, know nothing) and agree on the argv.
    const path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    const has = (name: string) => path.split(":").some((d) => existsSync(join(d, name)));
    expect(has("python3") && !has("python")).toBe(true);
    const dir = fixture(
      { ...STACKS.python, "devflow.toml": `[project]\nstack = ["python"]\n${CONTAINER}[targets]\npr = ["test:unit"]\n` },
      { git: true },
    );
    const plan = await runDwf(["ci", "plan", "--json"], { cwd: dir, env: { PATH: path } });
    expect(plan.code).toBe(0);
    expect(JSON.parse(plan.stdout).runtime).toBe("container");
    const ci = JSON.parse(plan.stdout)
      .profiles.find((x: any) => x.workflow)
      .jobs.flatMap((j: any) => j.tasks)
      .find((t: any) => t.id === "test:unit@python");
    const verify = await runDwf(["verify", "--dry-run", "--json", "--profile", "container", "pr"], { cwd: dir, env: { PATH: path } });
    expect(verify.code).toBe(0);
    const local = JSON.parse(verify.stdout).tasks.find((t: any) => t.id === "test:unit@python");
    expect(ci.argv).toEqual([local.program, ...local.args]);
    expect(ci.argv.slice(1)).toEqual(["-m", "pytest"]);
  });
});
