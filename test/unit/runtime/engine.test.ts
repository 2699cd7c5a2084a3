// Engine choice and health: DWF_ENGINE over [container] engine, and explicit engines that are
// missing or silent fail with a UserError instead of falling back.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync, chmodSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { probeEngine, requestedEngine, resolveEngine } from "../../../src/runtime/engine.ts";
import { UserError } from "../../../src/lib/errors.ts";

/** A PATH holding only fake engine scripts. */
const made: string[] = [];
afterAll(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fakePath(scripts: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "dwf-engine-"));
  made.push(dir);
  for (const [name, body] of Object.entries(scripts)) {
    writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  }
  return dir;
}

describe("requestedEngine", () => {
  test("DWF_ENGINE overrides [container] engine; default is auto", () => {
    expect(requestedEngine({ container: { engine: "podman" } }, { DWF_ENGINE: "docker" }).setting).toBe("docker");
    expect(requestedEngine({ container: { engine: "podman" } }, {}).setting).toBe("podman");
    expect(requestedEngine({}, {}).setting).toBe("auto");
  });
  test("an unknown engine name is a UserError naming where it came from", () => {
    expect(() => requestedEngine({}, { DWF_ENGINE: "containerd" })).toThrow(/DWF_ENGINE: 'containerd' is not a container engine/);
  });
});

describe("resolveEngine", () => {
  test("explicit docker missing from PATH: UserError, even when podman is there", async () => {
    const PATH = fakePath({ podman: "exit 0" });
    const err = await resolveEngine({ container: { engine: "docker" } }, { PATH }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain("[container] engine = docker, but 'docker' was not found on PATH");
  });

  test("explicit engine whose daemon fails: UserError with the engine's own first line", async () => {
    const PATH = fakePath({ docker: "echo 'Cannot connect to the Docker daemon.' >&2; exit 1" });
    const err = await resolveEngine({}, { PATH, DWF_ENGINE: "docker" }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain("'docker' does not answer: Cannot connect to the Docker daemon");
  });

  test("an engine message ending in '?' keeps its question mark and gets no full stop after it", async () => {
    const PATH = fakePath({ docker: "echo 'Is the docker daemon running?' >&2; exit 1" });
    const err = await resolveEngine({}, { PATH, DWF_ENGINE: "docker" }).catch((e) => e);
    expect(err.message).toEndWith("Is the docker daemon running?");
    expect(err.message).not.toContain("?.");
  });

  test("an engine that hangs is reported as not answering", async () => {
    const PATH = fakePath({ docker: `exec ${Bun.which("sleep")} 10` });
    const p = await probeEngine("docker", { PATH }, { timeoutMs: 200 });
    expect(p.ok).toBe(false);
    if (!p.ok) expect(p.reason).toContain("did not answer");
  });

  test("auto prefers a healthy podman, and takes docker when podman does not answer", async () => {
    expect((await resolveEngine({}, { PATH: fakePath({ podman: "exit 0", docker: "exit 0" }) })).name).toBe("podman");
    expect((await resolveEngine({}, { PATH: fakePath({ podman: "exit 1", docker: "exit 0" }) })).name).toBe("docker");
    const err = await resolveEngine({}, { PATH: fakePath({}) }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain("no container engine is available");
  });

  test("a present image answers for the engine's health in one call", async () => {
    const PATH = fakePath({ podman: '[ "$1" = image ] && exit 0; exit 1' });
    const e = await resolveEngine({}, { PATH }, { imageRef: "x:1" });
    expect(e.imagePresent).toBe(true);
  });
});
