// Dependencies install themselves: the compiled dwf on fresh trees that need their dependencies
// (a node devDependency from a local `npm pack` tarball, pytest for a Python project), on the host
// and in a real container. No network: every install is offline.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dwfBinary, fixture, GIT_IDENTITY, runDwf, type DwfResult } from "../support/dwf.ts";
import { containersNamed, podmanAvailable, removeContainers, removeImages } from "../support/podman.ts";
import { toolchainImage } from "../support/images.ts";

const scratch: string[] = [];
afterAll(() => {
  for (const d of scratch.splice(0)) rmSync(d, { recursive: true, force: true });
});

function sh(argv: string[], cwd: string, env: Record<string, string> = {}): string {
  const r = Bun.spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} failed in ${cwd}:\n${r.stdout.toString()}${r.stderr.toString()}`);
  return r.stdout.toString();
}

function commit(dir: string, message: string): void {
  if (!existsSync(join(dir, ".git"))) sh(["git", "init", "-q", "-b", "main"], dir);
  sh(["git", "add", "-A"], dir);
  sh(["git", "commit", "-q", "-m", message], dir, GIT_IDENTITY);
}

/** A real package with a bin, packed by npm into `vendor/` of the project: a devDependency that installs offline. */
function packRunner(project: string, version: string): string {
  const pkg = mkdtempSync(join(tmpdir(), "dwf-pkg-"));
  scratch.push(pkg);
  mkdirSync(join(pkg, "bin"));
  writeFileSync(
    join(pkg, "package.json"),
    JSON.stringify({ name: "fake-runner", version, bin: { "fake-runner": "bin/run.js" }, files: ["bin"] }),
  );
  writeFileSync(join(pkg, "bin/run.js"), `#!/usr/bin/env node\nconsole.log("fake-runner ${version} ran in " + process.cwd());\n`);
  chmodSync(join(pkg, "bin/run.js"), 0o755);
  mkdirSync(join(project, "vendor"), { recursive: true });
  // npm's cache goes beside the package, not in it: pack walks the folder while npm writes there.
  const cache = mkdtempSync(join(tmpdir(), "dwf-npm-cache-"));
  scratch.push(cache);
  sh(["npm", "pack", "--silent", "--pack-destination", join(project, "vendor")], pkg, { npm_config_cache: cache });
  return `vendor/fake-runner-${version}.tgz`;
}

/** package.json (and its lockfile, written by npm offline) needing fake-runner; every install appends to install.log. */
function writeNodeManifest(dir: string, tarball: string, opts: { lock: boolean } = { lock: true }): void {
  const manifest = {
    name: "deps-fixture",
    version: "1.0.0",
    private: true,
    // The sleep keeps an install running long enough for a second dwf to meet it.
    scripts: { test: "fake-runner", postinstall: "echo installed >> install.log && sleep 1" },
    devDependencies: { "fake-runner": `file:${tarball}` },
  };
  writeFileSync(join(dir, "package.json"), JSON.stringify(manifest, null, 2) + "\n");
  if (!opts.lock) return;
  const cache = mkdtempSync(join(tmpdir(), "dwf-npm-cache-"));
  scratch.push(cache);
  sh(["npm", "install", "--package-lock-only", "--offline", "--ignore-scripts", "--silent"], dir, { npm_config_cache: cache });
}

function nodeProject(files: Record<string, string> = {}): string {
  const dir = fixture({ ".gitignore": "node_modules/\ninstall.log\n", ...files });
  writeNodeManifest(dir, packRunner(dir, "1.0.0"));
  commit(dir, "fixture");
  return dir;
}

const installs = (dir: string) =>
  existsSync(join(dir, "install.log")) ? readFileSync(join(dir, "install.log"), "utf8").split("\n").filter(Boolean).length : 0;

interface PlanTask {
  id: string;
  after: string[];
  reason?: string;
}
interface Dependency {
  stack: string;
  install: boolean;
  reason?: string;
  disabled?: boolean;
  paths: string[];
}

async function plan(dir: string, extra: string[] = []): Promise<{ tasks: PlanTask[]; dependencies: Dependency[] }> {
  const r = await runDwf(["verify", "--dry-run", "--json", ...extra], { cwd: dir });
  if (r.code !== 0) throw new Error(`dry run failed: ${r.all}`);
  return JSON.parse(r.stdout);
}

function taskIds(r: DwfResult): string[] {
  return (JSON.parse(r.stdout).tasks as { id: string }[]).map((t) => t.id);
}

describe("node on the host", () => {
  test("a fresh clone installs on the first verify, skips the install on the second, and installs again when the lockfile changes", async () => {
    dwfBinary();
    const dir = nodeProject();
    const fresh = await plan(dir);
    expect(fresh.tasks[0]).toMatchObject({ id: "setup:deps@node", reason: "node_modules missing" });
    expect(fresh.tasks.find((t) => t.id === "test:unit@node")!.after).toContain("setup:deps@node");
    const text = await runDwf(["verify", "--dry-run"], { cwd: dir });
    expect(text.stdout).toMatch(/1\. setup:deps \[node\]  install: node_modules missing\n\s+\$ npm ci\n/);
    expect(fresh.dependencies).toEqual([
      {
        stack: "node",
        inputs: ["package.json", "package-lock.json"],
        paths: ["node_modules"],
        install: true,
        reason: "node_modules missing",
      },
    ] as never);

    const first = await runDwf(["verify", "-V"], { cwd: dir, timeoutMs: 120_000 });
    expect(first.all).toMatch(/passed setup:deps \[node\][^\n]*node_modules missing/);
    expect(first.all).toContain("fake-runner 1.0.0 ran");
    expect(first.code).toBe(0);
    expect(installs(dir)).toBe(1);
    // npm ci empties node_modules: a file left in it shows whether another install ran.
    writeFileSync(join(dir, "node_modules/.still-here"), "");

    // --no-cache: the test really runs again (it needs node_modules), the install does not.
    const second = await runDwf(["verify", "--no-cache", "--json"], { cwd: dir });
    expect(second.code).toBe(0);
    expect(taskIds(second)).not.toContain("setup:deps@node");
    expect(JSON.parse(second.stdout).tasks.find((t: { id: string }) => t.id === "test:unit@node")).toMatchObject({ status: "passed" });
    expect(JSON.parse(second.stdout).dependencies).toMatchObject([{ stack: "node", install: false }]);
    expect(installs(dir)).toBe(1);
    expect(existsSync(join(dir, "node_modules/.still-here"))).toBe(true);
    const shown = await runDwf(["verify", "--dry-run"], { cwd: dir });
    expect(shown.stdout).not.toContain("setup:deps");
    expect(shown.stdout).toContain("dependencies: node: up to date (node_modules)");
    console.log(`node on the host: first verify ${Math.round(first.ms)} ms (with the install), second ${Math.round(second.ms)} ms`);

    // A new version of the devDependency: package.json and the lockfile change.
    writeNodeManifest(dir, packRunner(dir, "1.1.0"));
    const changed = await plan(dir);
    expect(changed.tasks[0]).toMatchObject({ id: "setup:deps@node", reason: "package-lock.json and package.json changed" });
    const third = await runDwf(["verify", "-V"], { cwd: dir, timeoutMs: 120_000 });
    expect(third.code).toBe(0);
    expect(third.all).toContain("fake-runner 1.1.0 ran");
    expect(installs(dir)).toBe(2);
  }, 240_000);

  test("--no-install and [deps] install = false leave dependencies alone; setup:deps still installs when asked", async () => {
    const dir = nodeProject();
    const off = await plan(dir, ["--no-install"]);
    expect(off.tasks.map((t) => t.id)).not.toContain("setup:deps@node");
    expect(off.dependencies).toMatchObject([{ stack: "node", install: false, disabled: true, reason: "node_modules missing" }]);
    const r = await runDwf(["verify", "--no-install"], { cwd: dir });
    expect(r.code).toBe(1);
    // sh says "Permission denied" instead when a folder on PATH cannot be searched (an
    // ordinary user's PATH may name root's folders).
    expect(r.all).toMatch(/fake-runner: (not found|Permission denied)/);
    expect(installs(dir)).toBe(0);

    writeFileSync(join(dir, "devflow.toml"), '[deps]\ninstall = false\n\n[targets]\npr = ["test:unit"]\n');
    const configured = await plan(dir);
    expect(configured.tasks.map((t) => t.id)).toEqual(["test:unit@node"]);
    const text = await runDwf(["verify", "--dry-run"], { cwd: dir });
    expect(text.stdout).toContain(
      "dependencies: node: not installed automatically (--no-install or [deps] install = false), although node_modules missing",
    );

    const explicit = await runDwf(["setup:deps"], { cwd: dir, timeoutMs: 120_000 });
    expect(explicit.code).toBe(0);
    expect(installs(dir)).toBe(1);
    expect((await runDwf(["verify"], { cwd: dir })).code).toBe(0);
    // Asked for by name, it runs even when nothing changed.
    expect((await runDwf(["setup:deps"], { cwd: dir, timeoutMs: 120_000 })).code).toBe(0);
    expect(installs(dir)).toBe(2);

    writeFileSync(join(dir, "devflow.toml"), "[deps]\ninstall = 1\n");
    const bad = await runDwf(["verify"], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("deps.install: expected true or false, found number 1.");
  }, 240_000);

  test("a failing install fails the run with the installer's output, runs no task that needs it, and is tried again next run", async () => {
    const dir = fixture({ ".gitignore": "node_modules/\n" });
    writeFileSync(
      join(dir, "package.json"),
      JSON.stringify({
        name: "broken",
        version: "1.0.0",
        scripts: { test: "touch ran.marker" },
        devDependencies: { gone: "file:vendor/gone-1.0.0.tgz" },
      }),
    );
    commit(dir, "fixture");
    const r = await runDwf(["verify", "--json"], { cwd: dir, timeoutMs: 120_000 });
    expect(r.code).toBe(1);
    const tasks = JSON.parse(r.stdout).tasks as { id: string; status: string; reason: string | null; output: string }[];
    const install = tasks.find((t) => t.id === "setup:deps@node")!;
    expect(install.status).toBe("failed");
    expect(install.reason).toMatch(/^installing node dependencies failed \(exit code \d+\); tasks that need them do not run$/);
    expect(install.output).toContain("gone-1.0.0.tgz");
    expect(tasks.find((t) => t.id === "test:unit@node")).toMatchObject({ status: "skipped", reason: "blocked: setup:deps@node failed" });
    expect(existsSync(join(dir, "ran.marker"))).toBe(false);

    const text = await runDwf(["verify"], { cwd: dir, timeoutMs: 120_000 });
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/✖ failed setup:deps \[node\]/);
    expect(text.stdout).toContain("gone-1.0.0.tgz");
    expect(text.stdout).toMatch(/skipped test:unit \[node\] — blocked: setup:deps@node failed/);
  }, 240_000);

  test("two dwf runs started together on a fresh tree install once", async () => {
    const dir = nodeProject();
    const [a, b] = await Promise.all([
      runDwf(["verify", "-V"], { cwd: dir, timeoutMs: 120_000 }),
      runDwf(["verify", "-V"], { cwd: dir, timeoutMs: 120_000 }),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(installs(dir)).toBe(1);
    expect(a.all + b.all).toContain("fake-runner 1.0.0 ran");
    // The one that waited says so, and found the install done.
    const waited = [a, b].filter((r) => r.all.includes("installed meanwhile by another dwf run"));
    expect(waited.length).toBe(1);
    expect(waited[0]!.all).toContain("to finish installing node dependencies in this tree…");
  }, 240_000);
});

const PYTHON_TESTS = {
  "requirements.txt": "pytest\n",
  ".gitignore": ".venv/\n",
  "tests/test_sum.py":
    "import pytest\n\n\n@pytest.mark.parametrize('a,b', [(1, 2), (2, 3)])\ndef test_next(a, b):\n    assert a + 1 == b\n",
};

describe("python on the host", () => {
  test("a fresh tree gets a .venv with its requirements before pytest runs, once", async () => {
    const probe = Bun.spawnSync(["python3", "-c", "import pytest"], { stderr: "pipe" });
    if (probe.exitCode !== 0)
      throw new Error("this test needs a python3 with pytest on the host (offline, pytest comes from the interpreter's own packages)");
    const dir = fixture({ ...PYTHON_TESTS, "devflow.toml": '[targets]\npr = ["test:unit"]\n' }, { git: true });
    expect((await plan(dir)).tasks[0]).toMatchObject({ id: "setup:deps@python", reason: ".venv missing" });
    const first = await runDwf(["verify", "-V"], { cwd: dir, timeoutMs: 120_000 });
    expect(first.all).toMatch(/passed setup:deps \[python\][^\n]*\.venv missing/);
    expect(first.all).toContain("2 passed");
    expect(first.code).toBe(0);
    expect(existsSync(join(dir, ".venv/bin/python"))).toBe(true);
    const second = await runDwf(["verify", "--no-cache", "-V", "--json"], { cwd: dir });
    expect(second.code).toBe(0);
    expect(taskIds(second)).toEqual(["test:unit@python"]);
    // The tests ran with the venv's interpreter (pytest prints its rootdir and the interpreter).
    expect((await plan(dir)).tasks).toMatchObject([{ id: "test:unit@python" }]);
    const argv = JSON.parse((await runDwf(["test:unit", "--dry-run", "--json"], { cwd: dir })).stdout).tasks[0].argv;
    expect(argv.slice(0, 3)).toEqual([".venv/bin/python", "-m", "pytest"]);
    console.log(`python on the host: first verify ${Math.round(first.ms)} ms (with the install), second ${Math.round(second.ms)} ms`);

    writeFileSync(join(dir, "requirements.txt"), "pytest\npluggy\n");
    expect((await plan(dir)).tasks[0]).toMatchObject({ id: "setup:deps@python", reason: "requirements.txt changed" });
  }, 240_000);
});

const run = podmanAvailable() ? describe : describe.skip;
const IMAGE_REPO = "localhost/dwf-deps-fixture";
const PREFIX = "dwf-deps-fixture-";

run("in a container (podman)", () => {
  afterAll(() => {
    removeContainers(PREFIX);
    for (const kind of ["node", "python"]) removeImages(`${IMAGE_REPO}-${kind}`);
  });

  const containerToml = (name: string, targets = '["test:unit"]') =>
    `[project]\nname = "deps-fixture"\n\n[runtime]\nprofile = "container"\n\n[container]\nimage = "${IMAGE_REPO}-${name}"\n\n[targets]\npr = ${targets}\n`;

  test("node: the first verify installs inside the image, the second does not; a host run installs for the host", async () => {
    const base = await toolchainImage("node");
    const dir = fixture({
      ".gitignore": "node_modules/\ninstall.log\n",
      "devflow.toml": containerToml("node"),
      "Dockerfile.devflow": `FROM ${base}\n`,
    });
    writeNodeManifest(dir, packRunner(dir, "1.0.0"));
    commit(dir, "fixture");

    expect((await plan(dir)).tasks[0]).toMatchObject({ id: "setup:deps@node", reason: "node_modules missing" });
    const first = await runDwf(["verify", "-V"], { cwd: dir, timeoutMs: 300_000 });
    expect(first.all).toContain("fake-runner 1.0.0 ran in /workspace");
    expect(first.all).toMatch(/passed setup:deps \[node\]/);
    expect(first.code).toBe(0);
    expect(installs(dir)).toBe(1);

    const second = await runDwf(["verify", "--no-cache", "--json"], { cwd: dir, timeoutMs: 120_000 });
    expect(second.code).toBe(0);
    expect(taskIds(second)).toEqual(["test:unit@node"]);
    expect(installs(dir)).toBe(1);
    console.log(
      `node in a container: first verify ${Math.round(first.ms)} ms (image build and install), second ${Math.round(second.ms)} ms`,
    );

    // What the container installed is not the host's: a host run installs again, for the host.
    const host = await plan(dir, ["--profile", "host"]);
    expect(host.tasks[0]).toMatchObject({ id: "setup:deps@node", reason: "installed in a container, this run is on the host" });
    const onHost = await runDwf(["verify", "--profile", "host", "-V"], { cwd: dir, timeoutMs: 120_000 });
    expect(onHost.code).toBe(0);
    expect(onHost.all).toContain(`fake-runner 1.0.0 ran in ${dir}`);
    expect(installs(dir)).toBe(2);
    expect((await plan(dir)).tasks[0]).toMatchObject({
      id: "setup:deps@node",
      reason: "installed on the host, this run is in a container",
    });
    expect(containersNamed(PREFIX)).toEqual([]);
  }, 600_000);

  test("python: the venv is made inside the image and pytest comes from the image", async () => {
    const base = await toolchainImage("python");
    // The generated image provides `python` (python-is-python3); this stand-in links it.
    const dockerfile = `FROM ${base}\nUSER root\nRUN ln -s /usr/bin/python3 /usr/local/bin/python\nUSER 1001\n`;
    const dir = fixture({ ...PYTHON_TESTS, "devflow.toml": containerToml("python"), "Dockerfile.devflow": dockerfile }, { git: true });
    const first = await runDwf(["verify", "-V"], { cwd: dir, timeoutMs: 300_000 });
    expect(first.all).toMatch(/passed setup:deps \[python\][^\n]*\.venv missing/);
    expect(first.all).toContain("2 passed");
    expect(first.code).toBe(0);
    // Made inside the image, by the image's interpreter, seeing the image's packages.
    const cfg = readFileSync(join(dir, ".venv/pyvenv.cfg"), "utf8");
    expect(cfg).toContain("venv --system-site-packages /workspace/.venv");
    expect(cfg).toContain("executable = /usr/bin/python3.11");
    const second = await runDwf(["verify", "--no-cache", "--json"], { cwd: dir, timeoutMs: 120_000 });
    expect(second.code).toBe(0);
    expect(taskIds(second)).toEqual(["test:unit@python"]);
    expect(containersNamed(PREFIX)).toEqual([]);
  }, 600_000);
});

/** A cargo that runs with the test's HOME (a rustup proxy needs its own ~/.rustup; Debian's cargo does not). */
function cargoPath(): string {
  const works = (path: string) =>
    Bun.spawnSync(["cargo", "--version"], { env: { ...process.env, PATH: path }, stdout: "pipe", stderr: "pipe" }).exitCode === 0;
  const path = process.env.PATH ?? "";
  if (works(path)) return path;
  if (works(`/usr/bin:${path}`)) return `/usr/bin:${path}`;
  throw new Error("this test needs cargo (apt-get install cargo)");
}

describe("rust on the host", () => {
  test("cargo fetch runs before the tests when Cargo.toml or Cargo.lock changed, and not otherwise (nothing in the tree marks it)", async () => {
    const PATH = cargoPath();
    const dep = fixture(
      { "Cargo.toml": '[package]\nname = "dep"\nversion = "0.1.0"\nedition = "2021"\n', "src/lib.rs": "pub fn one() -> i32 {\n    1\n}\n" },
      { git: true },
    );
    const manifest = `[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\ndep = { git = "file://${dep}" }\n`;
    const dir = fixture(
      {
        "Cargo.toml": manifest,
        "src/lib.rs":
          "pub fn two() -> i32 {\n    dep::one() + 1\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn two() {\n        assert_eq!(super::two(), 2);\n    }\n}\n",
        ".gitignore": "target/\n",
        "devflow.toml": '[targets]\npr = ["test:unit"]\n',
      },
      { git: true },
    );
    const env = { PATH, CARGO_HOME: join(dir, ".cargo-home"), CARGO_TARGET_DIR: join(dir, "target") };
    writeFileSync(join(dir, ".gitignore"), "target/\n.cargo-home/\n");
    const first = await runDwf(["verify", "-V"], { cwd: dir, env, timeoutMs: 240_000 });
    expect(first.all).toMatch(/passed setup:deps \[rust\][^\n]*not installed by dwf yet/);
    expect(first.all).toContain("Updating git repository");
    expect(first.all).toContain("test tests::two ... ok");
    expect(first.code).toBe(0);
    // cargo wrote Cargo.lock during the fetch: the record holds it as it is now.
    expect(existsSync(join(dir, "Cargo.lock"))).toBe(true);
    const second = await runDwf(["verify", "--no-cache", "--json"], { cwd: dir, env, timeoutMs: 240_000 });
    expect(second.code).toBe(0);
    expect(taskIds(second)).toEqual(["test:unit@rust"]);
    expect(JSON.parse(second.stdout).dependencies).toEqual([
      { stack: "rust", inputs: ["Cargo.toml", "Cargo.lock"], paths: [], install: false },
    ]);

    writeFileSync(join(dir, "Cargo.toml"), manifest.replace('version = "0.1.0"', 'version = "0.2.0"'));
    const changed = await runDwf(["verify", "--dry-run", "--json"], { cwd: dir, env });
    expect(JSON.parse(changed.stdout).tasks[0]).toMatchObject({ id: "setup:deps@rust", reason: "Cargo.toml changed" });
  }, 300_000);
});

describe("bun on the host", () => {
  test("bun install runs before the tests on a fresh tree, and not on the second run", async () => {
    if (!Bun.which("bun")) throw new Error("this test needs bun on PATH");
    const dir = fixture({ ".gitignore": "node_modules/\ninstall.log\n" });
    writeNodeManifest(dir, packRunner(dir, "1.0.0"), { lock: false });
    // bun.lock makes it a bun project; the fresh tree has no node_modules.
    sh(["bun", "install", "--ignore-scripts"], dir);
    rmSync(join(dir, "node_modules"), { recursive: true, force: true });
    commit(dir, "fixture");
    expect((await plan(dir)).tasks[0]).toMatchObject({ id: "setup:deps@bun", reason: "node_modules missing" });
    const first = await runDwf(["verify", "-V"], { cwd: dir, timeoutMs: 120_000 });
    expect(first.all).toContain("fake-runner 1.0.0 ran");
    expect(first.code).toBe(0);
    expect(installs(dir)).toBe(1);
    const second = await runDwf(["verify", "--no-cache", "--json"], { cwd: dir });
    expect(second.code).toBe(0);
    expect(taskIds(second)).not.toContain("setup:deps@bun");
    expect(installs(dir)).toBe(1);
  }, 120_000);
});

describe("an external extension", () => {
  test("its --describe 'dependencies' drive the same installs: first run installs, second does not, a changed input installs again", async () => {
    const ext = `#!/bin/sh
case "$1" in
  --describe) echo '{"api_version":1,"capabilities":["setup:deps","test:unit"],"dependencies":{"inputs":["deps.lock"],"paths":["vendor/deps"]}}';;
  --discover) echo '["setup:deps","test:unit"]';;
  --build-action)
    case "$(cat)" in
      *deps*) echo '{"program":"sh","args":["-c","mkdir -p vendor/deps && cp deps.lock vendor/deps/installed && echo installed >> install.log"]}';;
      *) echo '{"program":"sh","args":["-c","cat vendor/deps/installed"]}';;
    esac;;
  *) exit 1;;
esac
`;
    const dir = fixture(
      {
        "devflow-ext-acme": ext,
        "deps.lock": "acme 1\n",
        ".gitignore": "vendor/\ninstall.log\n",
        "devflow.toml":
          '[project]\nstack = ["acme"]\n\n[extensions.acme]\nsource = "path"\npath = "devflow-ext-acme"\n\n[targets]\npr = ["test:unit"]\n',
      },
      { git: true },
    );
    const first = await runDwf(["verify", "-V"], { cwd: dir });
    expect(first.all).toMatch(/passed setup:deps \[acme\][^\n]*vendor\/deps missing/);
    expect(first.all).toContain("acme 1");
    expect(first.code).toBe(0);
    const second = await runDwf(["verify", "--no-cache", "--json"], { cwd: dir });
    expect(taskIds(second)).toEqual(["test:unit@acme"]);
    expect(installs(dir)).toBe(1);
    writeFileSync(join(dir, "deps.lock"), "acme 2\n");
    const third = await runDwf(["verify", "-V"], { cwd: dir });
    expect(third.all).toMatch(/passed setup:deps \[acme\][^\n]*deps\.lock changed/);
    expect(third.all).toContain("acme 2");
    expect(installs(dir)).toBe(2);
  }, 60_000);

  // Claimed through the bare primary `setup`, so declining it is the protocol's decline (a
  // decline of a command claimed by name is a broken extension, exit 2).
  test("a setup:deps the extension declines is named in the plan, and the tasks still run", async () => {
    const ext = `#!/bin/sh
case "$1" in
  --describe) echo '{"api_version":1,"capabilities":["setup","test:unit"],"dependencies":{"inputs":["deps.lock"],"paths":["vendor/deps"]}}';;
  --discover) echo '["setup","test:unit"]';;
  --build-action)
    case "$(cat)" in
      *deps*) echo "no installer on this machine" >&2; exit 3;;
      *) echo '{"program":"true","args":[]}';;
    esac;;
  *) exit 1;;
esac
`;
    const dir = fixture({
      "devflow-ext-acme": ext,
      "deps.lock": "acme 1\n",
      "devflow.toml":
        '[project]\nstack = ["acme"]\n\n[extensions.acme]\nsource = "path"\npath = "devflow-ext-acme"\n\n[targets]\npr = ["test:unit"]\n',
    });
    const shown = await runDwf(["verify", "--dry-run"], { cwd: dir });
    expect(shown.stdout).toContain(
      "dependencies: acme: vendor/deps missing, but its setup:deps is skipped: acme declined setup:deps (exit 3): no installer on this machine",
    );
    const r = await runDwf(["verify", "--json"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(taskIds(r)).toEqual(["test:unit@acme"]);
  });
});
