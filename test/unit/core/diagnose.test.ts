// The pure readers behind dwf's diagnoses: the command a shell reported missing, a failed
// build's cause, the in-image tool lookup's output, and auto's remembered "no image".
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { missingCommand } from "../../../src/core/diagnose.ts";
import { summariseBuildFailure } from "../../../src/runtime/build-failure.ts";
import { parseProbeOutput, probeArgv, PROBE_SCRIPT } from "../../../src/runtime/tool-probe.ts";
import {
  imageStatePath,
  readImageState,
  rememberedUnavailable,
  rememberUnavailable,
  forgetUnavailable,
  UNAVAILABLE_TTL_MS,
} from "../../../src/runtime/image-state.ts";

describe("missingCommand", () => {
  test.each([
    ["sh: 1: mocha: not found", "mocha"],
    ["/bin/sh: 1: jest: not found", "jest"],
    ["sh: vitest: not found", "vitest"],
    ["bash: line 1: tsc: command not found", "tsc"],
    ["bash: eslint: command not found", "eslint"],
    ["zsh:1: command not found: prettier", "prettier"],
    ["env: 'ts-node': No such file or directory", "ts-node"],
    ["env: can't execute 'mocha': No such file or directory", "mocha"],
    ["make: protoc: No such file or directory", "protoc"],
    ["make[1]: protoc: Command not found", "protoc"],
    // dash, when a folder on PATH is not searchable by this user
    ["sh: 1: mocha: Permission denied", "mocha"],
  ])("%s", (line, name) => {
    expect(missingCommand(`> x@1.0.0 test\n> something\n\n${line}\n`)).toBe(name);
  });

  test("the last mention wins; output without one gives nothing", () => {
    expect(missingCommand("sh: a: not found\nmore\nsh: b: not found\n")).toBe("b");
    expect(missingCommand("1 failing test\nexit 127\n")).toBeUndefined();
  });
});

describe("summariseBuildFailure", () => {
  test("a base image behind a name that does not resolve: network", () => {
    const f = summariseBuildFailure(
      'Trying to pull docker.io/library/debian:bookworm-slim...\nError: creating build container: initializing source docker://debian:bookworm-slim: pinging container registry registry-1.docker.io: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.0.0.53:53: no such host\n',
      125,
    );
    expect(f.kind).toBe("network");
    expect(f.summary).toBe(
      "the base image debian:bookworm-slim could not be pulled: the name registry-1.docker.io did not resolve (no network, or no DNS)",
    );
  });

  test("a localhost/ base that is not here: missing base image, not 'connection refused'", () => {
    const f = summariseBuildFailure(
      'Error: creating build container: initializing source docker://localhost/base:1: pinging container registry localhost: Get "https://localhost/v2/": dial tcp 127.0.0.1:443: connect: connection refused\n',
      125,
    );
    expect(f.kind).toBe("base-image");
    expect(f.summary).toContain("localhost/base:1 is not on this machine");
  });

  test("a registry that does not have the base image", () => {
    const f = summariseBuildFailure(
      "Error: creating build container: initializing source docker://ghcr.io/x/y:1: reading manifest 1 in ghcr.io/x/y: manifest unknown\n",
      125,
    );
    expect(f.kind).toBe("base-image");
    expect(f.summary).toContain("ghcr.io/x/y:1 does not exist");
  });

  test("a failing RUN step, podman, docker classic and BuildKit: the step and its last lines", () => {
    const podman = summariseBuildFailure(
      'STEP 1/2: FROM base\nSTEP 2/2: RUN make all\nbuilding…\nerror: cc not found\nError: building at STEP "RUN make all": while running runtime: exit status 2\n',
      2,
    );
    expect(podman).toEqual({
      kind: "step",
      summary: "step 'RUN make all' failed (exit status 2)",
      tail: ["building…", "error: cc not found"],
    });
    // buildah under chroot isolation (rootless without a usable /dev/net/tun) words it without "while running runtime"
    const chroot = summariseBuildFailure(
      'STEP 2/2: RUN make all\nerror: cc not found\nsubprocess exited with status 2\nsubprocess exited with status 2\nError: building at STEP "RUN make all": exit status 2\n',
      2,
    );
    expect(chroot).toEqual({ kind: "step", summary: "step 'RUN make all' failed (exit status 2)", tail: ["error: cc not found"] });
    expect(summariseBuildFailure("Step 2/2 : RUN false\nThe command '/bin/sh -c false' returned a non-zero code: 1\n", 1).summary).toBe(
      "step 'RUN false' failed (exit status 1)",
    );
    expect(
      summariseBuildFailure('ERROR: failed to solve: process "/bin/sh -c false" did not complete successfully: exit code: 1\n', 1).summary,
    ).toBe("step 'RUN false' failed (exit status 1)");
  });

  test("a step that could not download: the step, and that it was the network", () => {
    const f = summariseBuildFailure(
      'curl: (6) Could not resolve host: example.org\nError: building at STEP "RUN curl -fsSL https://example.org | sh": while running runtime: exit status 6\n',
      6,
    );
    expect(f.kind).toBe("network");
    expect(f.summary).toContain("could not reach the network: the name example.org did not resolve");
  });
});

describe("the in-image tool lookup", () => {
  test("argv: one engine run of a fixed script, the names as positional parameters", () => {
    const argv = probeArgv(
      { engine: { name: "podman", path: "/usr/bin/podman", rootless: false }, ref: "img:fp", runArgs: ["--user", "0:0"] },
      ["ruff", "$(x)"],
    );
    expect(argv).toEqual([
      "/usr/bin/podman",
      "run",
      "--rm",
      "--user",
      "0:0",
      "img:fp",
      "sh",
      "-c",
      PROBE_SCRIPT,
      "dwf-probe",
      "ruff",
      "$(x)",
    ]);
  });

  test("the script's output: found, missing, and names it did not mention", () => {
    const out = parseProbeOutput("ruff\t/usr/local/bin/ruff\nblack\t\n", ["ruff", "black", "uv"]);
    expect(out).toEqual({ ruff: "/usr/local/bin/ruff", black: null, uv: null });
  });

  test("the script runs in a real sh", () => {
    const r = Bun.spawnSync(["sh", "-c", PROBE_SCRIPT, "dwf-probe", "sh", "dwf-no-such-tool"], { stdout: "pipe" });
    const out = parseProbeOutput(r.stdout.toString(), ["sh", "dwf-no-such-tool"]);
    expect(out.sh).toMatch(/\/sh$/);
    expect(out["dwf-no-such-tool"]).toBeNull();
  });
});

describe("image state", () => {
  test("auto's 'no image' holds for an hour, and is forgotten when the image is had", () => {
    const root = mkdtempSync(join(tmpdir(), "dwf-state-"));
    try {
      const now = Date.parse("2026-01-01T10:00:00Z");
      rememberUnavailable(root, "img:fp", "fp", "its build failed", now);
      expect(rememberedUnavailable(root, "img:fp", "fp", now + UNAVAILABLE_TTL_MS - 1000)?.reason).toBe("its build failed");
      expect(rememberedUnavailable(root, "img:fp", "fp", now + UNAVAILABLE_TTL_MS + 1000)).toBeUndefined();
      // Another image name with the same fingerprint is another image.
      expect(rememberedUnavailable(root, "other:fp", "fp", now)).toBeUndefined();
      forgetUnavailable(root, "img:fp", "fp");
      expect(rememberedUnavailable(root, "img:fp", "fp", now)).toBeUndefined();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("a damaged state file is nothing remembered", () => {
    const root = mkdtempSync(join(tmpdir(), "dwf-state-"));
    try {
      mkdirSync(join(root, "images"));
      writeFileSync(imageStatePath(root, "fp"), "{not json");
      expect(readImageState(root, "img:fp", "fp")).toEqual({ version: 1, ref: "img:fp", tools: {} });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("programDidNotStart", () => {
  test("the engines' words for a program the image lacks, and a script's own 127", async () => {
    const { programDidNotStart } = await import("../../../src/runtime/container.ts");
    expect(
      programDidNotStart(
        'Error: runc: runc create failed: unable to start container process: exec: "npm": executable file not found in $PATH: OCI runtime attempted to invoke a command that was not found',
      ),
    ).toBe(true);
    expect(
      programDidNotStart(
        "Error: crun: executable file `npm` not found in $PATH: No such file or directory: OCI runtime attempted to invoke a command that was not found",
      ),
    ).toBe(true);
    expect(
      programDidNotStart(
        'docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "npm": executable file not found in $PATH: unknown.',
      ),
    ).toBe(true);
    expect(programDidNotStart("> x@1.0.0 test\n> mocha\n\nsh: 1: mocha: not found\n")).toBe(false);
  });
});

describe("localBases", () => {
  test("the localhost/ images a Dockerfile builds FROM, not its stages or registry images", async () => {
    const { localBases } = await import("../../../src/runtime/image.ts");
    const text =
      "FROM localhost/base:1 AS tools\nRUN true\nFROM --platform=linux/amd64 debian:bookworm-slim\nFROM tools\nfrom localhost/other:2\n";
    expect(localBases(text)).toEqual(["localhost/base:1", "localhost/other:2"]);
  });
});
