// dwf says what really went wrong: a command missing inside a task that did start (not "the
// program could not be run"), a failed image build by its cause (network, missing base image,
// failing step) with exit 1, a localhost/ image built and never pulled, profile = auto
// remembering that no image could be had, and --fail-fast never calling a stopped task passed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { dwfBinary, fixture, runDwf } from "../support/dwf.ts";
import { BASE_IMAGE, MAKE_SHIM, containersNamed, ensureBaseImage, removeContainers, removeImages } from "../support/podman.ts";

const TOKEN = Math.random().toString(36).slice(2, 8);
const IMAGE = (what: string) => `localhost/dwf-itest-diag-${what}-${TOKEN}`;
const PROJECT = `diag-${TOKEN}`;
const IMAGES = ["missing-cmd", "npm", "base", "dns", "step", "local", "nofile", "auto"].map(IMAGE);

function customProject(opts: {
  image: string;
  profile?: string;
  dockerfile?: string;
  makefile?: string;
  extra?: Record<string, string>;
}): string {
  return fixture({
    "devflow.toml": `[project]\nname = "${PROJECT}"\nstack = ["custom"]\n\n[runtime]\nprofile = "${opts.profile ?? "container"}"\n\n[container]\nimage = "${opts.image}"\n\n[targets]\npr = ["test:unit"]\n`,
    Makefile: opts.makefile ?? "test-unit:\n\techo unit tests ran\n",
    "make-shim": MAKE_SHIM,
    ...(opts.dockerfile !== undefined ? { "Dockerfile.devflow": opts.dockerfile } : {}),
    ...opts.extra,
  });
}

const SHIMMED = `FROM ${BASE_IMAGE}\nCOPY make-shim /bin/make\nRUN for c in awk; do ln -sf busybox /bin/$c; done\n`;

describe("diagnoses", () => {
  beforeAll(() => {
    ensureBaseImage();
    dwfBinary();
  });
  afterAll(() => {
    removeContainers(`dwf-${PROJECT}-`);
    for (const i of IMAGES) removeImages(i);
  });

  test("in a container: a command missing inside the task is named; the task's program did run", async () => {
    const dir = customProject({
      image: IMAGE("missing-cmd"),
      dockerfile: SHIMMED,
      makefile: "test-unit:\n\techo running the suite\n\tmocha --reporter dot\n",
    });
    const r = await runDwf(["verify"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.all).toContain("running the suite");
    expect(r.all).toContain("a command inside the task was not found: 'mocha' (exit code 127)");
    expect(r.all).not.toContain("could not be run inside image");
    expect(r.all).not.toContain("Dockerfile.devflow and rebuild");
    expect(containersNamed(`dwf-${PROJECT}-`)).toEqual([]);
  });

  test("in a container: a program the image lacks is still 'could not be run inside image'", async () => {
    const dir = fixture({
      "devflow.toml": `[project]\nname = "${PROJECT}"\nstack = ["node"]\n\n[runtime]\nprofile = "container"\n\n[container]\nimage = "${IMAGE("npm")}"\n\n[targets]\npr = ["test:unit"]\n`,
      "package.json": JSON.stringify({ name: "x", private: true, scripts: { test: "mocha" } }),
      "Dockerfile.devflow": `FROM ${BASE_IMAGE}\n`,
    });
    const r = await runDwf(["test:unit"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.all).toContain("'npm' could not be run inside image");
    expect(r.all).not.toContain("a command inside the task was not found");
  });

  test("on the host: npm ran, the script's tool was missing (the issue's 'sh: 1: mocha: not found')", async () => {
    const dir = fixture({
      "devflow.toml": `[runtime]\nprofile = "host"\n[project]\nstack = ["node"]\n[targets]\npr = ["test:unit"]\n`,
      "package.json": JSON.stringify({ name: "x", private: true, scripts: { test: "dwf-no-such-test-runner --reporter dot" } }),
    });
    const r = await runDwf(["test:unit"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.all).toContain("a command inside the task was not found: 'dwf-no-such-test-runner' (exit code 127)");
    expect(r.all).not.toContain("'npm' was not found");
  });

  test("a build whose base image is not on this machine: exit 1, says so, no 'fix the Dockerfile'", async () => {
    const dir = customProject({ image: IMAGE("base"), dockerfile: `FROM localhost/dwf-itest-no-such-base-${TOKEN}:1\n` });
    const r = await runDwf(["verify"], { cwd: dir, timeoutMs: 120_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the base image localhost/dwf-itest-no-such-base-${TOKEN}:1 is not on this machine`);
    expect(r.stderr).toContain("Check the FROM line of Dockerfile.devflow");
    expect(r.stderr).not.toMatch(/fix the Dockerfile/i);
  });

  test("a build that cannot resolve its registry's name: exit 1, 'did not resolve'", async () => {
    // .invalid never resolves (RFC 2606), with or without a network.
    const dir = customProject({ image: IMAGE("dns"), dockerfile: "FROM registry.dwf-test.invalid/base:1\n" });
    const r = await runDwf(["verify"], { cwd: dir, timeoutMs: 120_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "the base image registry.dwf-test.invalid/base:1 could not be pulled: the name registry.dwf-test.invalid did not resolve",
    );
    expect(r.stderr).toContain("check the connection, DNS and proxy settings");
  });

  test("a failing build step: exit 1, the step and its last lines", async () => {
    const dir = customProject({
      image: IMAGE("step"),
      dockerfile: `FROM ${BASE_IMAGE}\nRUN echo "fetching toolchain" && echo "toolchain 9.9 not found" >&2 && false\n`,
    });
    const r = await runDwf(["verify"], { cwd: dir, timeoutMs: 120_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/failed \(podman exit code \d+\): step 'RUN echo "fetching toolchain" .*' failed \(exit status 1\)/);
    expect(r.stderr).toMatch(/Its last lines:\n(\s+.*\n)*\s+toolchain 9\.9 not found/);
  });

  test("a localhost/ image is built, never pulled; without a Dockerfile it says it cannot be pulled", async () => {
    const built = await runDwf(["verify"], { cwd: customProject({ image: IMAGE("local"), dockerfile: SHIMMED }), timeoutMs: 120_000 });
    expect(built.code).toBe(0);
    expect(built.all).toContain("unit tests ran");
    expect(built.all).not.toMatch(/pull/i);
    const none = await runDwf(["verify"], { cwd: customProject({ image: IMAGE("nofile") }) });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("a localhost/ image is never pulled");
    expect(none.stderr).not.toContain("pulling it failed");
  });

  test("profile = auto remembers that the image could not be had, says so, and 'dwf image build' tries again", async () => {
    // COPY of a file that is not there yet: the build fails until it exists (it is not a fingerprint input).
    const dir = customProject({ image: IMAGE("auto"), profile: "auto", dockerfile: `${SHIMMED}COPY flag /flag\n` });
    const first = await runDwf(["verify"], { cwd: dir, timeoutMs: 120_000 });
    expect(first.code).toBe(0);
    expect(first.all).toContain("Building");
    expect(first.all).toMatch(
      /auto: image \S+ cannot be had \(its build failed: step 'COPY flag \/flag' failed: .*\); dwf will not try again for 60 minutes \('dwf image build' tries now\); running on the host/,
    );
    const state = readdirSync(join(dir, ".cache/devflow/images"));
    expect(state).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(dir, ".cache/devflow/images", state[0]!), "utf8")).unavailable.reason).toContain(
      "its build failed",
    );

    // doctor tells the same story: with the image out of reach, auto runs on the host, so host tools count.
    const doctor = JSON.parse((await runDwf(["doctor", "--json"], { cwd: dir })).stdout);
    expect(doctor.runtime).toBe("host");
    expect(doctor.checks.find((c: { name: string }) => c.name === "make").needed).toBe(true);

    const second = await runDwf(["verify", "--no-cache"], { cwd: dir, timeoutMs: 120_000 });
    expect(second.code).toBe(0);
    expect(second.all).not.toContain("Building");
    expect(second.all).toMatch(
      /auto: image \S+ could not be had at \d\d:\d\d \(its build failed: .*\); not trying again before \d\d:\d\d\. Run 'dwf image build' to try now; running on the host/,
    );
    expect(second.all).toContain("unit tests ran");
    // One line, not the build log again: the whole run is quick.
    expect(second.ms).toBeLessThan(first.ms);

    writeFileSync(join(dir, "flag"), "now it builds\n");
    const build = await runDwf(["image", "build"], { cwd: dir, timeoutMs: 120_000 });
    expect(build.code).toBe(0);
    const third = await runDwf(["verify", "--no-cache"], { cwd: dir, timeoutMs: 120_000 });
    expect(third.code).toBe(0);
    expect(third.all).toMatch(/auto: running in a container \(podman, image \S+ present\)/);
    expect(existsSync(join(dir, "flag"))).toBe(true);
  });
});

describe("--fail-fast", () => {
  test("a task stopped by the cancellation is 'cancelled' even when it exits 0 on SIGTERM", async () => {
    const ext = `#!/bin/sh
case "$1" in
  --discover) echo '["lint:static","test:unit"]';;
  --build-action) ref=$(cat); case "$ref" in *lint*) echo '{"program":"./fail","args":[]}';; *) echo '{"program":"./stoppable","args":[]}';; esac;;
  *) exit 1;;
esac
`;
    const dir = fixture({
      "devflow.toml": `[runtime]\nprofile = "host"\n[targets]\npr = ["lint:static", "test:unit"]\n\n[extensions.acme]\nsource = "path"\npath = "ext"\nrequired = true\n`,
      ext,
      fail: "#!/bin/sh\nsleep 1\necho lint failed\nexit 1\n",
      // Exits 0 when told to stop: still not a pass.
      stoppable: "#!/bin/sh\ntrap 'echo stopping; exit 0' TERM\nsleep 20 &\nwait\n",
    });
    const r = await runDwf(["verify", "--fail-fast", "--jobs", "2"], { cwd: dir, timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.all).toMatch(/test:unit\s+acme\s+cancelled/);
    expect(r.all).not.toMatch(/passed test:unit/);
    expect(r.all).not.toMatch(/✔ passed .* — cancelled/);
    expect(r.ms).toBeLessThan(15_000);
  });
});
