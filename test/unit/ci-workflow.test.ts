// The workflow renderer: every variant lints clean under the real actionlint, its shell
// passes shellcheck, output is deterministic, and the jobs match the profile.
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderWorkflow, MARKER, ACTIONS } from "../../src/ci/workflow.ts";
import { renderBakeFile } from "../../src/ci/bake.ts";
import { planJobs, registryHost, type CiSettings } from "../../src/ci/model.ts";
import { actionlint, runScripts, shellcheckRuns } from "./ci-support.ts";
import { checkImageName } from "../../src/core/image-name.ts";

const base: CiSettings = {
  profile: "pr",
  profiles: { pr: ["setup:deps", "fmt:check", "lint:static", "build:debug", "test:unit"], main: ["fmt:check", "test:all"] },
  mode: "jobs",
  image: null,
  platforms: ["linux/amd64"],
  dwfVersion: "1.2.3",
  repository: "devflow-dev/dwf",
  branch: "main",
  dockerfile: "Dockerfile.devflow",
  cacheDir: ".cache/devflow",
  bakeFile: "docker-bake.hcl",
};

const variants: [string, Partial<CiSettings>][] = [
  ["jobs mode, derived image", {}],
  ["single mode", { mode: "single" }],
  ["multi-platform, configured ghcr image", { image: "ghcr.io/acme/app-ci", platforms: ["linux/amd64", "linux/arm64"] }],
  ["docker hub image, custom branch", { image: "acme/app-ci", branch: "trunk" }],
  ["custom profile without build commands", { profile: "quick", profiles: { quick: ["lint:static", "test:smoke"] } }],
  ["single mode without build commands", { mode: "single", profile: "quick", profiles: { quick: ["fmt:check"] } }],
  ["release profile with package", { profile: "release", profiles: { release: ["build:release", "test:all", "package:artifact"] }, cacheDir: "ci-cache" }],
];

describe("renderWorkflow", () => {
  for (const [name, over] of variants) {
    test(`${name}: zero actionlint findings, shellcheck-clean`, async () => {
      const text = renderWorkflow({ ...base, ...over });
      expect(await actionlint(text)).toEqual([]);
      expect(shellcheckRuns(text)).toEqual([]);
      expect(text.startsWith(MARKER)).toBe(true);
      expect(renderWorkflow({ ...base, ...over })).toBe(text);
    });
  }

  test("jobs mode: prep, build with setup+build, one verify job per remaining command", () => {
    const doc = Bun.YAML.parse(renderWorkflow(base)) as any;
    expect(Object.keys(doc.jobs)).toEqual(["prep", "build", "fmt-check", "lint-static", "test-unit"]);
    expect(doc.permissions).toEqual({ contents: "read" });
    expect(doc.jobs.prep.permissions.packages).toBe("write");
    for (const id of ["build", "fmt-check", "lint-static", "test-unit"]) {
      expect(doc.jobs[id].permissions.packages).toBe("read");
      expect(doc.jobs[id].env.IS_CONTAINER).toBe("true");
      expect(doc.jobs[id].container.image).toBe("${{ needs.prep.outputs.image }}");
      // The remote cache: keyed as the image's container runs, written only from the default branch.
      expect(doc.jobs[id].env.DWF_IMAGE).toBe("${{ needs.prep.outputs.image }}");
      expect(doc.jobs[id].env.DWF_REMOTE_CACHE_TOKEN).toBe("${{ secrets.DWF_REMOTE_CACHE_TOKEN }}");
      expect(doc.jobs[id].env.DWF_REMOTE_CACHE_SIGNATURE_KEY).toBe("${{ secrets.DWF_REMOTE_CACHE_SIGNATURE_KEY }}");
      expect(doc.jobs[id].env.DWF_REMOTE_CACHE).toBe(`\${{ github.event_name == 'push' && github.ref == 'refs/heads/${base.branch}' && 'readwrite' || 'read' }}`);
      // dwf is installed (and checksum-verified) before its first use in every job.
      const runs = doc.jobs[id].steps.map((s: any) => s.run ?? "");
      const install = runs.findIndex((r: string) => r.includes("sha256sum -c"));
      const firstDwf = runs.findIndex((r: string) => /^dwf /.test(r));
      expect(install).toBeGreaterThanOrEqual(0);
      expect(install).toBeLessThan(firstDwf);
    }
    expect(doc.jobs.build.steps.map((s: any) => s.run).filter(Boolean).slice(1)).toEqual(["dwf setup:deps", "dwf build:debug"]);
    expect(doc.jobs.build.steps.some((s: any) => s.uses === ACTIONS.cache)).toBe(true);
    expect(doc.jobs["test-unit"].steps.some((s: any) => s.uses === ACTIONS.cacheRestore)).toBe(true);
    expect(doc.jobs["test-unit"].needs).toEqual(["prep", "build"]);
    expect(doc.on.push.branches).toEqual(["main"]);
    expect(doc.on.push.tags).toEqual(["v*"]);
    expect("pull_request" in doc.on).toBe(true);
    expect(doc.concurrency.group).toContain("github.ref");
    expect(doc.env.DWF_VERSION).toBe("1.2.3");
  });

  test("prep: fingerprint, registry lookup, bake, Trivy blocking on CRITICAL,HIGH, push", () => {
    const doc = Bun.YAML.parse(renderWorkflow({ ...base, platforms: ["linux/amd64", "linux/arm64"] })) as any;
    const steps = doc.jobs.prep.steps as any[];
    const text = JSON.stringify(steps);
    expect(text).toContain("dwf fingerprint");
    expect(text).toContain("docker manifest inspect");
    expect(text).toContain("docker buildx bake --file docker-bake.hcl scan");
    const trivy = steps.find((s) => String(s.uses).startsWith("aquasecurity/trivy-action@"));
    expect(trivy.with.severity).toBe("CRITICAL,HIGH");
    expect(trivy.with["exit-code"]).toBe("1");
    expect(steps.some((s) => String(s.uses).startsWith("docker/setup-qemu-action@"))).toBe(true);
    const order = ["Look for the image", "Build the image for scanning", "Scan the image", "Push the image"].map((n) => steps.findIndex((s) => String(s.name).startsWith(n)));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  test("every action is pinned to a full version", () => {
    const uses = [...renderWorkflow({ ...base, platforms: ["linux/arm64"] }).matchAll(/uses: (\S+)/g)].map((m) => m[1]!);
    expect(uses.length).toBeGreaterThan(5);
    for (const u of uses) expect(u).toMatch(/@v?\d+\.\d+\.\d+$/);
  });

  test("single mode: one job running the checks in parallel, failing if any fails", async () => {
    const text = renderWorkflow({ ...base, mode: "single" });
    const doc = Bun.YAML.parse(text) as any;
    expect(Object.keys(doc.jobs)).toEqual(["prep", "verify"]);
    const script = runScripts(text).find((r) => r.script.includes("pids=()"))!.script;
    expect(script).toContain("commands=(fmt:check lint:static test:unit)");
    // Run the script for real with a fake dwf: one check fails, every exit code is collected.
    const dir = mkdtempSync(join(tmpdir(), "dwf-single-"));
    try {
      writeFileSync(join(dir, "dwf"), `#!/bin/sh\necho "ran $1"\n[ "$1" = lint:static ] && exit 5\nexit 0\n`);
      chmodSync(join(dir, "dwf"), 0o755);
      const r = Bun.spawnSync(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], { env: { PATH: `${dir}:${process.env.PATH}`, RUNNER_TEMP: dir }, stdout: "pipe" });
      const out = r.stdout.toString();
      expect(r.exitCode).toBe(1);
      expect(out).toContain("ran fmt:check");
      expect(out).toContain("ran test:unit");
      expect(out).toContain("::error title=dwf lint:static::dwf lint:static failed (exit code 5)");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("configured image on another registry logs in with DWF_REGISTRY_* secrets", () => {
    const text = renderWorkflow({ ...base, image: "registry.example.com/team/app-ci" });
    expect(text).toContain("registry: registry.example.com");
    expect(text).toContain("secrets.DWF_REGISTRY_PASSWORD");
    expect(text).toContain('name="registry.example.com/team/app-ci"');
  });
});

test("the linters used above do report problems", async () => {
  const broken = renderWorkflow(base).replace("runs-on: ubuntu-latest", "runs-on: ubuntu-nonsense").replace('echo "$dir" >> "$GITHUB_PATH"', "echo $dir >> $GITHUB_PATH");
  expect((await actionlint(broken)).length).toBeGreaterThan(0);
  expect(shellcheckRuns(broken).length).toBeGreaterThan(0);
});

describe("planJobs", () => {
  test("verify jobs without a build phase need only prep and use no cache", () => {
    const jobs = planJobs(["fmt:check", "test:unit"], "jobs");
    expect(jobs.map((j) => [j.id, j.needs, j.cache])).toEqual([
      ["prep", [], "none"],
      ["fmt-check", ["prep"], "none"],
      ["test-unit", ["prep"], "none"],
    ]);
  });
});

describe("registryHost", () => {
  test("follows docker's rule for the first path part", () => {
    expect(registryHost("ghcr.io/a/b")).toBe("ghcr.io");
    expect(registryHost("localhost:5000/x")).toBe("localhost:5000");
    expect(registryHost("acme/app")).toBe("docker.io");
    expect(registryHost(null)).toBe("ghcr.io");
  });
});

describe("renderBakeFile", () => {
  test("fills image, Dockerfile and platforms; zstd on push", () => {
    const text = renderBakeFile({ image: "ghcr.io/acme/app-ci", platforms: ["linux/amd64", "linux/arm64"], dockerfile: "ci/Dockerfile.devflow" });
    expect(text).toContain('platforms = ["linux/amd64", "linux/arm64"]');
    expect(text).toContain('dockerfile = "ci/Dockerfile.devflow"');
    expect(text).toContain('default = "ghcr.io/acme/app-ci"');
    expect(text).toContain("compression=zstd");
    expect(text).not.toContain("{{");
  });
});

describe("install step", () => {
  // A stand-in `curl` serves release files from a local directory, so the real script runs.
  function release(tamper: boolean) {
    const dir = mkdtempSync(join(tmpdir(), "dwf-install-"));
    const files = join(dir, "files");
    const bin = join(dir, "bin");
    Bun.spawnSync(["mkdir", "-p", files, bin, join(dir, "pkg"), join(dir, "runner")]);
    writeFileSync(join(dir, "pkg", "dwf"), "#!/bin/sh\necho dwf 1.2.3\n");
    chmodSync(join(dir, "pkg", "dwf"), 0o755);
    Bun.spawnSync(["tar", "-czf", join(files, "dwf-linux-x64.tar.gz"), "-C", join(dir, "pkg"), "dwf"]);
    const sum = Bun.spawnSync(["sha256sum", "dwf-linux-x64.tar.gz"], { cwd: files }).stdout.toString();
    writeFileSync(join(files, "SHA256SUMS"), tamper ? sum.replace(/^./, (c) => (c === "0" ? "1" : "0")) : sum);
    writeFileSync(join(bin, "curl"), `#!/bin/sh\nwhile [ $# -gt 0 ]; do case "$1" in -o) out="$2"; shift 2;; -*) shift;; *) url="$1"; shift;; esac; done\necho "$url" >> "${dir}/urls"\ncp "${files}/$(basename "$url")" "$out"\n`);
    chmodSync(join(bin, "curl"), 0o755);
    const script = runScripts(renderWorkflow(base)).find((r) => r.where.endsWith("Install dwf"))!.script;
    const path = join(dir, "github_path");
    const r = Bun.spawnSync(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], {
      env: { PATH: `${bin}:${process.env.PATH}`, RUNNER_TEMP: join(dir, "runner"), DWF_VERSION: "1.2.3", GITHUB_PATH: path },
      stdout: "pipe",
      stderr: "pipe",
    });
    return { dir, r, path };
  }

  test("downloads the pinned release, verifies its checksum, and puts dwf on PATH", () => {
    const { dir, r, path } = release(false);
    try {
      expect(r.exitCode).toBe(0);
      expect(r.stdout.toString()).toContain("dwf 1.2.3");
      expect(readFileSync(join(dir, "urls"), "utf8")).toContain("https://github.com/devflow-dev/dwf/releases/download/v1.2.3/dwf-linux-x64.tar.gz");
      const added = readFileSync(path, "utf8").trim();
      expect(existsSync(join(added, "dwf"))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a checksum mismatch fails the step before anything is unpacked", () => {
    const { dir, r, path } = release(true);
    try {
      expect(r.exitCode).not.toBe(0);
      expect(existsSync(path)).toBe(false);
      expect(existsSync(join(dir, "runner", "dwf-1.2.3", "dwf"))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("checkImageName", () => {
  test("upper case or a tag in the configured image fails with the fix; good names pass", () => {
    expect(checkImageName("ghcr.io/acme/app-ci", "w")).toBe("ghcr.io/acme/app-ci");
    expect(checkImageName("Registry.Example:5000/acme/app", "w")).toBe("Registry.Example:5000/acme/app");
    expect(() => checkImageName("ghcr.io/MyOrg/App", "devflow.toml: ci.registry_image")).toThrow(/registry_image = 'ghcr.io\/MyOrg\/App' has upper-case/);
    try {
      checkImageName("ghcr.io/MyOrg/App", "w");
    } catch (e) {
      expect((e as { hint?: string }).hint).toBe("Use 'ghcr.io/myorg/app'.");
    }
    expect(() => checkImageName("ghcr.io/acme/app:latest", "w")).toThrow(/tag or digest/);
    expect(() => checkImageName("localhost:5000/acme/app@sha256:abc", "w")).toThrow(/tag or digest/);
    // One step to a valid name: tag dropped and lower-cased together.
    let hint: string | undefined;
    try {
      checkImageName("ghcr.io/Org/x:1", "w");
    } catch (e) {
      hint = (e as { hint?: string }).hint;
    }
    expect(hint).toBe("Use 'ghcr.io/org/x'.");
    expect(() => checkImageName("ghcr.io/acme/app ci", "w")).toThrow(/not a valid image name/);
  });
});
