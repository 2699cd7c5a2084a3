// The proxy argv, user mapping and container naming: pure functions, no engine needed.
import { describe, expect, test } from "bun:test";
import {
  bindArgs,
  buildProxyArgs,
  buildProxyCall,
  containerName,
  containerWorkdir,
  createContainerRunner,
  userArgs,
} from "../../../src/runtime/container.ts";
import { debugCommandLine } from "../../../src/core/execute.ts";
import { trustsAutoRemove } from "../../../src/runtime/engine.ts";
import type { PreparedTask } from "../../../src/core/prepare.ts";

const spec = {
  engine: "podman",
  name: "dwf-demo-test-unit-custom-abc123",
  labels: { "dev.devflow.run": "abc123", "dev.devflow.pid": "42" },
  workspace: "/home/me/my project",
  workdir: "/workspace/sub",
  mounts: [
    { host: "/home/me/my project/.cache/devflow/alpha/store", container: "/cache/alpha" },
    { host: "/c/beta", container: "/cache/beta" },
  ],
  env: { ALPHA_CACHE: "/cache/alpha", MODE: "a b" },
  user: ["--user", "1000:1000"],
  image: "ghcr.io/org/repo-ci:abc",
  program: "make",
  args: ["test-unit", "--flag=x y"],
};

describe("buildProxyArgs", () => {
  test("engine run --name, labels, workspace, workdir, mounts, env, user, image, program and args in order; no --rm", () => {
    expect(buildProxyArgs(spec)).toEqual([
      "podman",
      "run",
      "--name",
      "dwf-demo-test-unit-custom-abc123",
      "--label",
      "dev.devflow.run=abc123",
      "--label",
      "dev.devflow.pid=42",
      "--mount",
      "type=bind,source=/home/me/my project,target=/workspace",
      "-w",
      "/workspace/sub",
      "--mount",
      "type=bind,source=/home/me/my project/.cache/devflow/alpha/store,target=/cache/alpha",
      "--mount",
      "type=bind,source=/c/beta,target=/cache/beta",
      "-e",
      "ALPHA_CACHE",
      "-e",
      "MODE",
      "--user",
      "1000:1000",
      "ghcr.io/org/repo-ci:abc",
      "make",
      "test-unit",
      "--flag=x y",
    ]);
  });

  test("autoRemove adds --rm right after run (podman, whose CLI reports the exit code itself)", () => {
    expect(buildProxyArgs({ ...spec, autoRemove: true }).slice(0, 5)).toEqual([
      "podman",
      "run",
      "--rm",
      "--name",
      "dwf-demo-test-unit-custom-abc123",
    ]);
  });

  test("env values travel through the engine's environment, never its argv", () => {
    const call = buildProxyCall({ ...spec, env: { API_TOKEN: "hunter2-secret", MODE: "a b" }, engineEnv: { PATH: "/usr/bin" } });
    expect(call.argv.join(" ")).not.toContain("hunter2");
    expect(call.argv).toContain("API_TOKEN");
    expect(call.env).toEqual({ API_TOKEN: "hunter2-secret", MODE: "a b" });
  });

  test("a variable the engine reads itself, or one dwf's environment holds with another value, stays on the argv; a secret there is refused", () => {
    const call = buildProxyCall({
      ...spec,
      env: { HOME: "/tmp", CI: "true", LANG: "C" },
      engineEnv: { HOME: "/root", CI: "true", LANG: "en_US.UTF-8" },
    });
    expect(call.argv).toContain("HOME=/tmp");
    expect(call.argv).toContain("LANG=C");
    expect(call.argv.slice(call.argv.indexOf("CI") - 1, call.argv.indexOf("CI") + 1)).toEqual(["-e", "CI"]);
    expect(call.env).toEqual({});
    expect(() => buildProxyCall({ ...spec, env: { DOCKER_AUTH_TOKEN: "x" }, engineEnv: {} })).toThrow("secret");
  });

  test("interactive TTYs get -i and -t before the image; tasks get neither", () => {
    const argv = buildProxyArgs({ ...spec, interactive: true, tty: true });
    expect(argv.slice(argv.indexOf("ghcr.io/org/repo-ci:abc") - 2, argv.indexOf("ghcr.io/org/repo-ci:abc"))).toEqual(["-i", "-t"]);
    expect(buildProxyArgs(spec)).not.toContain("-t");
    expect(buildProxyArgs(spec)).not.toContain("-i");
  });
});

describe("bindArgs", () => {
  test("always --mount type=bind, CSV-quoted for ',' and '\"', so no path can add a mount option", () => {
    expect(bindArgs("/home/me/my project", "/workspace")).toEqual(["--mount", "type=bind,source=/home/me/my project,target=/workspace"]);
    expect(bindArgs("/tmp/a:b", "/workspace")).toEqual(["--mount", "type=bind,source=/tmp/a:b,target=/workspace"]);
    expect(bindArgs('/tmp/a:b,c"d', "/cache/x")).toEqual(["--mount", 'type=bind,"source=/tmp/a:b,c""d",target=/cache/x']);
    expect(buildProxyArgs({ ...spec, workspace: "/w/x:y", mounts: [] }).slice(8, 10)).toEqual([
      "--mount",
      "type=bind,source=/w/x:y,target=/workspace",
    ]);
    expect(bindArgs("/tmp/x", "/c:ro,z")).toEqual(["--mount", 'type=bind,source=/tmp/x,"target=/c:ro,z"']);
  });
});

describe("userArgs", () => {
  test("docker and rootful podman run as the invoking uid:gid, with a writable HOME for non-root", () => {
    expect(userArgs({ engine: "docker", rootless: false, uid: 1000, gid: 1001 })).toEqual({
      args: ["--user", "1000:1001"],
      env: { HOME: "/tmp" },
    });
    expect(userArgs({ engine: "podman", rootless: false, uid: 0, gid: 0 })).toEqual({ args: ["--user", "0:0"], env: {} });
  });
  test("rootless podman keeps the user's id; [container] user overrides everything", () => {
    expect(userArgs({ engine: "podman", rootless: true, uid: 1000, gid: 1000 })).toEqual({
      args: ["--userns=keep-id", "--user", "1000:1000"],
      env: { HOME: "/tmp" },
    });
    expect(userArgs({ engine: "podman", rootless: true, configured: "1001:1001", uid: 1000, gid: 1000 }).args).toEqual([
      "--user",
      "1001:1001",
    ]);
  });
});

describe("containerName", () => {
  test("dwf-<project>-<task>-<token>, with characters engines reject replaced", () => {
    expect(containerName("My App", "test:unit@rust", "k3j2h1")).toBe("dwf-my-app-test-unit-rust-k3j2h1");
    expect(containerName("x", "lint:static@custom", "t")).toMatch(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/);
  });
});

describe("containerWorkdir", () => {
  test("maps directories inside the project under /workspace", () => {
    expect(containerWorkdir("/p", "/p")).toBe("/workspace");
    expect(containerWorkdir("/p", "/p/a/b")).toBe("/workspace/a/b");
    expect(containerWorkdir("/p", "/elsewhere")).toBe("/workspace");
  });
});

describe("debug command line", () => {
  test("is shell-quoted and has secret env values masked", () => {
    const runner = createContainerRunner({ config: { project: { name: "demo" } }, root: "/srv/demo" });
    const t = {
      task: { id: "test:unit@custom", ref: { primary: "test", selector: "unit" }, stack: "custom", deps: [], exclusive: false },
      action: { program: "make", args: ["test unit"] },
      env: { API_TOKEN: "hunter2-very-secret", PLAIN: "visible value" },
      cwd: "/srv/demo",
    } as unknown as PreparedTask;
    const line = debugCommandLine(runner, t);
    // Values the engine gets through its environment lead the line, so pasting it runs the same.
    expect(line).toStartWith("env ");
    expect(line).toContain("API_TOKEN=***");
    expect(line).toContain("'PLAIN=visible value'");
    expect(line).toContain("-e API_TOKEN ");
    expect(line).not.toContain("hunter2");
    expect(line).toContain("-e PLAIN ");
    expect(line).toContain("'test unit'");
    expect(line).toMatch(/--name dwf-demo-test-unit-custom-[a-z0-9]+ /);
    expect(line).toContain(`--label dev.devflow.pid=${process.pid} `);
    expect(line).toContain("podman run --rm --name");
  });
});

describe("trustsAutoRemove", () => {
  test("podman's CLI keeps --rm; docker never gets it (podman's Docker API exits 0 with --rm)", () => {
    expect(trustsAutoRemove({ name: "podman" })).toBe(true);
    expect(trustsAutoRemove({ name: "docker" })).toBe(false);
    const runner = createContainerRunner({
      config: { project: { name: "demo" } },
      root: "/srv/demo",
      engine: { name: "docker", path: "/usr/bin/docker", rootless: false },
    });
    const argv = runner.commandLine({ id: "test:unit@custom", action: { program: "make", args: [] }, cwd: "/srv/demo", env: {} });
    // The shown command line starts with `env NAME=value …` (values travel through the engine's environment).
    const engineAt = argv.indexOf("/usr/bin/docker");
    expect(argv.slice(engineAt, engineAt + 3)).toEqual(["/usr/bin/docker", "run", "--name"]);
    expect(argv).not.toContain("--rm");
  });
});

describe("userArgs under rootless Docker", () => {
  test("the container's root is the invoking user, so dwf asks for 0:0 whatever the image's USER", () => {
    expect(userArgs({ engine: "docker", rootless: true, uid: 1000, gid: 1000 })).toEqual({ args: ["--user", "0:0"], env: {} });
    expect(userArgs({ engine: "docker", rootless: true, configured: "1001:1001" }).args).toEqual(["--user", "1001:1001"]);
  });
});
