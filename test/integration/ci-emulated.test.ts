// The generated workflows, run end to end in the emulated hosted runner (test/support/
// gha-emulator.ts) against a real registry, podman's Docker API and the freshly built dwf:
// every job green on a pull request and on a push to main; the verify jobs start warm (no
// dependency download, no dependency crate compiled or checked again, lint jobs included); a
// second push builds no image; a pull request pushes nothing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ciRepo, describeRun, startCiLab, type CiLab } from "../support/ci-lab.ts";
import { toolchainImage } from "../support/images.ts";
import { RUST_TARGETS, RUST_VERIFY_JOBS, ciDevflow, rustWorkspace } from "../support/ci-fixtures.ts";
import type { RunResult } from "../support/gha-emulator.ts";

let lab: CiLab;
beforeAll(async () => {
  lab = await startCiLab();
}, 300_000);
afterAll(async () => {
  await lab?.stop();
});

function devflow(name: string, targets: string[], stacks?: string[]): string {
  return ciDevflow({ name, registry: lab.registry.host, targets, stacks });
}

const verifyJobs = (r: RunResult) => Object.values(r.jobs).filter((j) => !["image", "image-pr", "rescan", "warm"].includes(j.id));
const builds = (r: RunResult) => r.events.filter((e) => e.kind === "build");

function expectGreen(r: RunResult, skipped: string[]) {
  const results = Object.fromEntries(Object.values(r.jobs).map((j) => [j.id, j.result]));
  const want = Object.fromEntries(Object.keys(r.jobs).map((id) => [id, skipped.includes(id) ? "skipped" : "success"]));
  if (JSON.stringify(results) !== JSON.stringify(want)) throw new Error(`jobs are not all green:\n${describeRun(r)}`);
}

interface Scenario {
  name: string;
  files: Record<string, string>;
  prepare?: (dir: string) => void;
  /** Verify jobs the profile gives. */
  verify: string[];
  /** Output that means a dependency was downloaded or compiled; never in a verify job. */
  cold: RegExp[];
  /** Printed by the warm job on the cold cache (proves the patterns above can match). */
  warmedBy?: RegExp[];
  /** Also run a second push with no change: it must build no image. */
  secondPush?: boolean;
  /**
   * Push first, then the pull request (which then finds the image in the registry). Default:
   * the pull request first, so it builds and hands over the image itself.
   */
  pushFirst?: boolean;
}

async function scenario(sc: Scenario) {
  const repo = await ciRepo(lab, sc.files, lab.runner(), sc.prepare);
  repo.branch("feature");
  repo.commit("feature work");
  repo.checkout("main");
  const pullRequest = async () => {
    const before = lab.registry.snapshot();
    const pr = await repo.run("pull_request", "feature");
    expectGreen(pr, ["image", "rescan"]);
    expect(lab.registry.snapshot()).toEqual(before);
    // Before any push the image is built in the run (not pushed); after one it is reused.
    expect(builds(pr).map((b) => b.target)).toEqual(sc.pushFirst ? [] : ["scan"]);
    return pr;
  };
  const early = sc.pushFirst ? undefined : await pullRequest();
  const push = await repo.run("push", "main");
  expectGreen(push, ["image-pr", "rescan"]);
  expect(builds(push).map((b) => b.target)).toEqual(["ci"]);
  const fingerprint = push.jobs.image!.outputs.fingerprint!;
  expect(await lab.registry.tags(`${sc.name}-ci`)).toEqual([fingerprint]);
  expect(push.jobs.image!.outputs.ref).toMatch(new RegExp(`^${lab.registry.host}/${sc.name}-ci@sha256:[0-9a-f]{64}$`));
  // The image that was pushed, by digest, is the one the scan step was given.
  const scan = push.jobs.image!.steps.find((s) => s.uses?.startsWith("aquasecurity/trivy-action@"))!;
  expect(scan.note).toContain("needs the internet");
  expect(scan.with!["image-ref"]).toBe(push.jobs.image!.outputs.ref);

  const pr = early ?? (await pullRequest());
  const runs: Record<string, RunResult> = { pr, push };
  if (sc.secondPush) {
    const again = await repo.run("push", "main");
    expectGreen(again, ["image-pr", "rescan"]);
    expect(builds(again)).toEqual([]);
    runs.again = again;
  }
  if (process.env.DWF_EMU_LOGS)
    for (const [n, run] of Object.entries(runs))
      for (const j of Object.values(run.jobs)) await Bun.write(`${process.env.DWF_EMU_LOGS}/${sc.name}-${n}-${j.id}.log`, j.log);
  for (const run of Object.values(runs)) {
    expect(
      verifyJobs(run)
        .map((j) => j.id)
        .sort(),
    ).toEqual([...sc.verify].sort());
    for (const job of verifyJobs(run)) for (const re of sc.cold) expect([job.id, job.log]).not.toEqual([job.id, expect.stringMatching(re)]);
  }
  // The first run's warm job, on a cold cache, did the work (so the patterns above can match).
  for (const re of sc.warmedBy ?? []) expect((early ?? push).jobs.warm!.log).toMatch(re);
  console.log(
    `${sc.name}: ${Object.entries(runs)
      .map(([n, r]) => `${n} ${r.ms} ms`)
      .join(", ")}`,
  );
  return runs;
}

describe("emulated CI", () => {
  test("a Rust workspace with a path-dependency crate: PR, push, second push", async () => {
    const image = await toolchainImage("rust");
    const name = "rustapp";
    const files = rustWorkspace(image, devflow(name, RUST_TARGETS));
    const runs = await scenario({
      name,
      files,
      verify: RUST_VERIFY_JOBS,
      // helper is the path-dependency crate: built for the tests and checked again by clippy, both only in the warm job.
      cold: [/Compiling helper/, /Checking helper/, /Download(ing|ed) /],
      warmedBy: [/Compiling helper/, /Checking helper/],
      secondPush: true,
    });
    // The lint and format jobs ran their tools in the image (passed, not skipped for a missing tool).
    for (const run of Object.values(runs)) {
      expect(run.jobs["lint-static"]!.log).toContain("passed lint:static [rust]");
      expect(run.jobs["fmt-check"]!.log).toContain("passed fmt:check [rust]");
    }
  }, 900_000);

  test("a Node project with a real devDependency (a file: tarball): PR and push", async () => {
    const image = await toolchainImage("node");
    const name = "nodeapp";
    await scenario({
      name,
      files: {
        ...NODE_FILES,
        "Dockerfile.devflow": `FROM ${image}\n`,
        "devflow.toml": devflow(name, ["setup:deps", "fmt:check", "build:debug", "test:unit"]),
        ".gitignore": "node_modules/\n.cache/\ndist/\n",
      },
      prepare: packTool,
      verify: ["fmt-check", "test-unit"],
      cold: [/added \d+ package/, /npm (ci|install)/, /tidy-check: not found/],
      warmedBy: [/added \d+ package/],
    });
  }, 900_000);

  test("a Python project whose tests need pytest: PR and push", async () => {
    const image = await toolchainImage("python");
    const name = "pyapp";
    await scenario({
      name,
      files: {
        "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "-q"\n',
        "tests/unit/test_math.py": "import pytest\n\n\ndef test_division():\n    with pytest.raises(ZeroDivisionError):\n        1 / 0\n",
        "tests/integration/test_io.py":
          "import pytest\n\n\n@pytest.mark.parametrize('n', [1, 2])\ndef test_roundtrip(tmp_path, n):\n    (tmp_path / 'x').write_text(str(n))\n    assert (tmp_path / 'x').read_text() == str(n)\n",
        "Dockerfile.devflow": `FROM ${image}\n`,
        "devflow.toml": devflow(name, ["test:unit", "test:integration"]),
        ".gitignore": ".cache/\n__pycache__/\n",
      },
      verify: ["test-unit", "test-integration"],
      cold: [/Collecting |Downloading |No module named pytest/],
    });
  }, 900_000);

  test('mode = "single": the image job, then one `dwf verify pr`, on a pull request', async () => {
    const image = await toolchainImage("python");
    const name = "pysingle";
    const repo = await ciRepo(
      lab,
      {
        "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "-q"\n',
        "tests/unit/test_ok.py": "import pytest\n\n\ndef test_ok():\n    assert pytest.approx(0.3) == 0.1 + 0.2\n",
        "Dockerfile.devflow": `FROM ${image}\n`,
        "devflow.toml": ciDevflow({ name, registry: lab.registry.host, targets: ["test:unit", "test:all"], mode: "single" }),
        ".gitignore": ".cache/\n__pycache__/\n",
      },
      lab.runner(),
    );
    const pr = await repo.run("pull_request", "main");
    expectGreen(pr, ["image", "rescan"]);
    expect(Object.keys(pr.jobs).sort()).toEqual(["image", "image-pr", "rescan", "verify"]);
    expect(pr.jobs.verify!.log).toContain("2 tasks: 2 passed");
  }, 900_000);

  test("a node+rust project: PR and push", async () => {
    // Both toolchains: the node image's root laid over the rust one (the same Debian base).
    const [rust, node] = await Promise.all([toolchainImage("rust"), toolchainImage("node")]);
    const name = "mixed";
    await scenario({
      name,
      files: {
        ...NODE_FILES,
        "Cargo.toml": '[package]\nname = "mixed"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\nhelper = { path = "helper" }\n',
        "Cargo.lock":
          'version = 3\n\n[[package]]\nname = "helper"\nversion = "0.1.0"\n\n[[package]]\nname = "mixed"\nversion = "0.1.0"\ndependencies = [\n "helper",\n]\n',
        "src/main.rs":
          'fn main() {\n    println!("{}", helper::answer());\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn answers() {\n        assert_eq!(helper::answer(), 42);\n    }\n}\n',
        "helper/Cargo.toml": '[package]\nname = "helper"\nversion = "0.1.0"\nedition = "2021"\n',
        "helper/src/lib.rs": "pub fn answer() -> u32 {\n    42\n}\n",
        "Dockerfile.devflow": `FROM ${rust}\nCOPY --from=${node} / /\n`,
        "devflow.toml": devflow(name, ["setup:deps", "fmt:check", "lint:static", "build:debug", "test:unit"], ["node", "rust"]),
        ".gitignore": "node_modules/\n.cache/\ntarget/\ndist/\n",
      },
      prepare: packTool,
      verify: ["fmt-check", "lint-static", "test-unit"],
      cold: [/Compiling helper/, /Checking helper/, /added \d+ package/, /tidy-check: not found/],
      warmedBy: [/Compiling helper/, /Checking helper/],
      // Its image is the largest: the pull request reuses the pushed one instead of moving it as an artifact.
      pushFirst: true,
    });
  }, 900_000);
});

// A formatter-like dev tool, packed with `npm pack` and installed offline from the tarball.
const TOOL = {
  "package.json": JSON.stringify({ name: "tidy-check", version: "1.0.0", bin: { "tidy-check": "bin.js" }, main: "index.js" }),
  "index.js":
    "const fs = require('fs');\nconst path = require('path');\nexports.untidy = (dir) => fs.readdirSync(dir).map((f) => path.join(dir, f)).filter((f) => { const t = fs.readFileSync(f, 'utf8'); return !t.endsWith('\\n') || t.includes('\\t'); });\n",
  "bin.js":
    "#!/usr/bin/env node\nconst bad = require('./index.js').untidy(process.argv[2]);\nfor (const f of bad) console.error(`untidy: ${f}`);\nprocess.exit(bad.length ? 1 : 0);\n",
};

const NODE_FILES: Record<string, string> = {
  "package.json": JSON.stringify(
    {
      name: "nodeapp",
      version: "1.0.0",
      private: true,
      scripts: { "fmt:check": "tidy-check src", build: "node build.js", test: "node test.js" },
      devDependencies: { "tidy-check": "file:vendor/tidy-check-1.0.0.tgz" },
    },
    null,
    2,
  ),
  "src/index.js": "exports.sum = (a, b) => a + b;\n",
  "build.js": "const fs = require('fs');\nfs.mkdirSync('dist', { recursive: true });\nfs.copyFileSync('src/index.js', 'dist/index.js');\n",
  "test.js":
    "const assert = require('assert');\nassert.strictEqual(require('./src/index.js').sum(2, 3), 5);\n// The devDependency is installed: its library loads.\nassert.deepStrictEqual(require('tidy-check').untidy('src'), []);\nconsole.log('tests passed');\n",
};

/** npm pack the tool into vendor/ and write the lockfile, offline, on the host. */
function packTool(dir: string) {
  const src = join(dir, "tool-src");
  mkdirSync(src, { recursive: true });
  for (const [f, text] of Object.entries(TOOL)) writeFileSync(join(src, f), text, { mode: f === "bin.js" ? 0o755 : 0o644 });
  const pack = Bun.spawnSync(["npm", "pack", "--silent"], { cwd: src, stdout: "pipe", stderr: "pipe" });
  if (pack.exitCode !== 0) throw new Error(`npm pack failed: ${pack.stderr.toString()}`);
  mkdirSync(join(dir, "vendor"), { recursive: true });
  renameSync(join(src, "tidy-check-1.0.0.tgz"), join(dir, "vendor/tidy-check-1.0.0.tgz"));
  rmSync(src, { recursive: true, force: true });
  const lock = Bun.spawnSync(["npm", "install", "--package-lock-only", "--offline", "--ignore-scripts", "--no-audit", "--no-fund"], {
    cwd: dir,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (lock.exitCode !== 0) throw new Error(`npm install --package-lock-only failed: ${lock.stderr.toString()}`);
}
