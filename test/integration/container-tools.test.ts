// Under the container profile an extension's `which()` answers from the image, not the host:
// the Python formatter is `ruff format` exactly when the image has ruff, whatever the host's
// PATH holds, `--dry-run --json` shows the argv the container then runs, and the answers are
// looked up once per image fingerprint and remembered under the cache root.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { dwfBinary, fixture, runDwf } from "../support/dwf.ts";
import { BASE_IMAGE, containersNamed, ensureBaseImage, removeContainers, removeImages } from "../support/podman.ts";

const TOKEN = Math.random().toString(36).slice(2, 8);
const PROJECT = `tools-${TOKEN}`;
const PREFIX = `dwf-${PROJECT}-`;
const WITH_RUFF = `localhost/dwf-itest-tools-ruff-${TOKEN}`;
const WITHOUT_RUFF = `localhost/dwf-itest-tools-plain-${TOKEN}`;

/** A stand-in for a tool: says who it is and what it was asked, exits 0. */
const shim = (who: string) => `#!/bin/sh\necho "${who} $*"\n`;

/** A Python project (no [project] table: nothing to install) whose pr profile formats and lints. */
function project(image: string, withRuff: boolean): string {
  return fixture({
    "devflow.toml": `[project]\nname = "${PROJECT}"\nstack = ["python"]\n\n[runtime]\nprofile = "container"\n\n[container]\nimage = "${image}"\n\n[targets]\npr = ["fmt:check", "lint:static"]\n`,
    // Mentions neither ruff nor black: the formatter is whichever the environment has.
    "pyproject.toml": "[tool.pytest.ini_options]\n",
    "ruff-shim": shim("image-ruff"),
    "black-shim": shim("image-black"),
    "Dockerfile.devflow": `FROM ${BASE_IMAGE}\n${withRuff ? "COPY ruff-shim /bin/ruff\n" : ""}COPY black-shim /bin/black\n`,
  });
}

/** A PATH holding a fake ruff (and black) first, then the real one. */
function hostPathWithRuff(): string {
  const dir = fixture({ "bin/ruff": shim("HOST-ruff"), "bin/black": shim("HOST-black") });
  return `${join(dir, "bin")}:${process.env.PATH}`;
}

/** The argv of a task as --dry-run --json shows it, without the per-run container name and owner labels. */
async function planned(dir: string, env: Record<string, string> = {}): Promise<{ json: any; argv: Record<string, string[]> }> {
  const r = await runDwf(["verify", "--dry-run", "--json"], { cwd: dir, env });
  expect(r.code).toBe(0);
  const json = JSON.parse(r.stdout);
  return { json, argv: Object.fromEntries(json.tasks.map((t: any) => [t.command, withoutName(t.argv)])) };
}

function withoutName(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    // The name and the labels naming the run and its dwf process differ from one run to the next.
    if (argv[i] === "--name" || (argv[i] === "--label" && /^dev\.devflow\.(run|pid|pid-start|hostname|kernel)=/.test(argv[i + 1] ?? "")))
      i++;
    else out.push(argv[i]!);
  }
  return out;
}

/** The argv DWF_LOG=debug printed for each task of a real run (shell-quoted words → argv). */
function ranArgv(stderr: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const line of stderr.split("\n")) {
    // The line may lead with `env NAME=value …`: the values the engine gets through its environment.
    const m = /\[((?:fmt|lint):\w+)@python\] ((?:env .*)?\S*podman run .*)$/.exec(line);
    if (!m) continue;
    const words = Bun.spawnSync(["sh", "-c", `for w in ${m[2]}; do printf '%s\\0' "$w"; done`])
      .stdout.toString()
      .split("\0")
      .slice(0, -1);
    out[m[1]!] = withoutName(words);
  }
  return out;
}

describe("container profile: tools are looked up in the image", () => {
  beforeAll(() => {
    ensureBaseImage();
    dwfBinary();
  });
  afterAll(() => {
    removeContainers(PREFIX);
    removeImages(WITH_RUFF);
    removeImages(WITHOUT_RUFF);
  });

  test("the image has ruff: 'ruff format' with or without ruff on the host; the dry run shows what runs", async () => {
    const dir = project(WITH_RUFF, true);
    // Before the image exists a dry run cannot know, and says so.
    const early = await runDwf(["verify", "--dry-run", "--json"], { cwd: dir });
    expect(early.code).toBe(0);
    expect(JSON.parse(early.stdout).tools).toBe("unknown");
    expect(early.stderr).toContain("the image is not built yet");

    const r = await runDwf(["verify", "--jobs", "1"], { cwd: dir, env: { DWF_LOG: "debug" } });
    expect(r.all).toContain("image-ruff format --check .");
    expect(r.all).toContain("image-ruff check .");
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("tools: looking up");
    const ran = ranArgv(r.stderr);

    // Remembered for this fingerprint: where the image has ruff.
    const states = readdirSync(join(dir, ".cache/devflow/images"));
    expect(states).toHaveLength(1);
    const state = JSON.parse(readFileSync(join(dir, ".cache/devflow/images", states[0]!), "utf8"));
    expect(state.tools.ruff).toBe("/bin/ruff");
    expect(state.ref).toStartWith(`${WITH_RUFF}:`);

    const bare = await planned(dir);
    const hosted = await planned(dir, { PATH: hostPathWithRuff() });
    expect(bare.json.tools).toBe("image");
    expect(bare.argv["fmt:check"]!.slice(-4)).toEqual(["ruff", "format", "--check", "."]);
    // The host's PATH changes nothing; the plan is what the container ran.
    expect(hosted.argv).toEqual(bare.argv);
    expect(bare.argv["fmt:check"]).toEqual(ran["fmt:check"]!);
    expect(bare.argv["lint:static"]).toEqual(ran["lint:static"]!);

    // A second run asks the engine nothing about tools.
    const again = await runDwf(["verify", "--no-cache", "--jobs", "1"], { cwd: dir, env: { DWF_LOG: "debug", PATH: hostPathWithRuff() } });
    expect(again.code).toBe(0);
    expect(again.stderr).not.toContain("tools: looking up");
    expect(again.all).toContain("image-ruff format --check .");
    expect(again.all).not.toContain("HOST-");
    expect(containersNamed(PREFIX)).toEqual([]);
  });

  test("the image lacks ruff: black, even though the host has ruff", async () => {
    const dir = project(WITHOUT_RUFF, false);
    const r = await runDwf(["fmt:check"], { cwd: dir, env: { PATH: hostPathWithRuff() } });
    expect(r.all).toContain("image-black --check .");
    expect(r.all).not.toContain("HOST-");
    expect(r.code).toBe(0);
    const withHostRuff = await planned(dir, { PATH: hostPathWithRuff() });
    const without = await planned(dir);
    expect(withHostRuff.argv["fmt:check"]!.slice(-3)).toEqual(["black", "--check", "."]);
    expect(withHostRuff.argv).toEqual(without.argv);
  });
});

describe("doctor under the container profile checks the image's tools", () => {
  beforeAll(() => ensureBaseImage());
  afterAll(() => {
    removeContainers(PREFIX);
    removeImages(WITH_RUFF);
    removeImages(WITHOUT_RUFF);
  });

  test("the image has what the profile runs: doctor exits 0, and verify passes", async () => {
    const dir = project(WITH_RUFF, true);
    expect((await runDwf(["image", "build"], { cwd: dir, timeoutMs: 120_000 })).code).toBe(0);
    const doctor = await runDwf(["doctor"], { cwd: dir, env: { PATH: hostPathWithRuff() } });
    expect(doctor.stdout).toContain("stack python (in the image)");
    expect(doctor.stdout).toMatch(/ruff\s+ok\s+image-ruff --version/);
    // The host's copies are not what runs: they are not listed.
    expect(doctor.stdout).not.toContain("HOST-");
    expect(doctor.code).toBe(0);
    expect((await runDwf(["verify"], { cwd: dir })).code).toBe(0);
  });

  test("the image lacks ruff, which lint:static runs: doctor exits 1 naming it, and verify fails", async () => {
    const dir = project(WITHOUT_RUFF, false);
    expect((await runDwf(["image", "build"], { cwd: dir, timeoutMs: 120_000 })).code).toBe(0);
    // ruff on the host changes nothing: the image is what counts.
    const doctor = await runDwf(["doctor"], { cwd: dir, env: { PATH: hostPathWithRuff() } });
    expect(doctor.stdout).toMatch(/ruff\s+missing\s+not in the image \(needed\)/);
    expect(doctor.stdout).toContain("fix: add it to Dockerfile.devflow, then 'dwf image build'");
    expect(doctor.code).toBe(1);
    const verify = await runDwf(["verify"], { cwd: dir, env: { PATH: hostPathWithRuff() } });
    expect(verify.code).toBe(1);
    expect(verify.all).toContain("'ruff' could not be run inside image");
  });
});

describe("--config is honoured when profile = auto picks the runtime", () => {
  const IMAGE_OTHER = `localhost/dwf-itest-cfg-other-${TOKEN}`;
  const IMAGE_MAIN = `localhost/dwf-itest-cfg-main-${TOKEN}`;
  beforeAll(() => ensureBaseImage());
  afterAll(() => {
    removeContainers(`dwf-cfg-${TOKEN}`);
    removeImages(IMAGE_OTHER);
    removeImages(IMAGE_MAIN);
  });

  test("a sibling devflow.toml does not decide host vs container for 'dwf --config other.toml verify'", async () => {
    const config = (image: string, dockerfile: string) =>
      `[project]\nname = "cfg-${TOKEN}"\nstack = ["custom"]\n\n[runtime]\nprofile = "auto"\n\n[container]\nimage = "${image}"\ndockerfile = "${dockerfile}"\n\n[targets]\npr = ["test:unit"]\n`;
    const dir = fixture({
      // The sibling names a Dockerfile that does not exist: auto would fall back to the host.
      "devflow.toml": config(IMAGE_MAIN, "Dockerfile.missing"),
      "other.toml": config(IMAGE_OTHER, "Dockerfile.other"),
      "Dockerfile.other": `FROM ${BASE_IMAGE}\nCOPY make-shim /bin/make\n`,
      "make-shim": `#!/bin/sh\necho "inside=\${DWF_IN_CONTAINER:-no}"\n`,
      Makefile: 'test-unit:\n\t@echo "inside=$${DWF_IN_CONTAINER:-no}"\n',
    });
    const r = await runDwf(["verify", "--config", "other.toml"], { cwd: dir });
    expect(r.all).toContain(`auto: running in a container (podman, image ${IMAGE_OTHER}:`);
    expect(r.all).toContain("inside=1");
    expect(r.all).not.toContain(IMAGE_MAIN);
    expect(r.code).toBe(0);
    // And the sibling, read on its own, is what falls back to the host.
    const plain = await runDwf(["verify"], { cwd: dir });
    expect(plain.all).toContain("running on the host");
    expect(plain.all).toContain("inside=no");
    expect(existsSync(join(dir, "Dockerfile.missing"))).toBe(false);
  });
});
