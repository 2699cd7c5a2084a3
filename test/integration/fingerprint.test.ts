// `dwf fingerprint` as a user runs it: stable across checkouts, sensitive to exactly the
// inputs the stacks and Dockerfile.devflow declare, explained with --explain and --json.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fixture, runDwf } from "../support/dwf.ts";

const files = {
  "devflow.toml":
    '[project]\nname = "fp"\nstack = ["custom"]\n\n[container]\nimage = "localhost/dwf-fp"\nfingerprint_inputs = ["tools/*.txt"]\n',
  Makefile: "test-unit:\n\ttrue\n",
  "Dockerfile.devflow": "FROM localhost/dwf-test-base:1\n",
  "tools/b.txt": "b\n",
  "tools/a.txt": "a\n",
  "src/main.txt": "not an input\n",
};

async function fp(dir: string): Promise<string> {
  const r = await runDwf(["fingerprint"], { cwd: dir });
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

describe("dwf fingerprint", () => {
  test("the same tree gives the same hash in another checkout; unrelated files do not matter", async () => {
    const one = fixture(files);
    const two = fixture(files);
    const hash = await fp(one);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(await fp(two)).toBe(hash);
    writeFileSync(join(two, "src/main.txt"), "edited\n");
    expect(await fp(two)).toBe(hash);
  });

  test("changes when Dockerfile.devflow, a stack's input or a configured input changes", async () => {
    const base = await fp(fixture(files));
    for (const [path, content] of [
      ["Dockerfile.devflow", "FROM other\n"],
      ["Makefile", "test-unit:\n\tfalse\n"],
      ["tools/a.txt", "A\n"],
      ["tools/c.txt", "new\n"],
    ]) {
      expect([path, await fp(fixture({ ...files, [path!]: content! }))]).not.toEqual([path, base]);
    }
  });

  test("--explain lists each input with its hash or 'missing'; --json gives the same for scripts", async () => {
    const { "Dockerfile.devflow": _, ...rest } = files;
    const dir = fixture(rest);
    const explained = await runDwf(["fingerprint", "--explain"], { cwd: dir });
    expect(explained.code).toBe(0);
    expect(explained.stdout).toMatch(/missing\s+Dockerfile\.devflow/);
    expect(explained.stdout).toMatch(/[0-9a-f]{64}  Makefile  \(custom\)/);
    expect(explained.stdout).toMatch(/[0-9a-f]{64}  tools\/a\.txt  \(config\)/);
    const json = JSON.parse((await runDwf(["fingerprint", "--json"], { cwd: dir })).stdout);
    expect(json.fingerprint).toBe(await fp(dir));
    expect(json.image).toBe(`localhost/dwf-fp:${json.fingerprint}`);
    expect(json.inputs.map((i: { path: string }) => i.path)).toEqual([
      "Dockerfile.devflow",
      "Makefile",
      "docker-bake.hcl",
      "platforms=linux/amd64",
      "tools/a.txt",
      "tools/b.txt",
    ]);
    expect(json.inputs[0].hash).toBeNull();
  });

  test("a file Dockerfile.devflow COPYs (file or directory) is an input: editing it means a new image", async () => {
    const copying = {
      ...files,
      "Dockerfile.devflow": "FROM localhost/dwf-test-base:1\nCOPY shim /bin/make\nCOPY --chown=1:1 conf /etc/conf\n",
      shim: "#!/bin/sh\n",
      "conf/x.ini": "x\n",
    };
    const base = await fp(fixture(copying));
    expect(await fp(fixture({ ...copying, shim: "#!/bin/sh\necho edited\n" }))).not.toBe(base);
    expect(await fp(fixture({ ...copying, "conf/x.ini": "y\n" }))).not.toBe(base);
    expect(await fp(fixture({ ...copying, "src/main.txt": "still not an input\n" }))).toBe(base);
    const json = JSON.parse((await runDwf(["fingerprint", "--json"], { cwd: fixture(copying) })).stdout);
    expect(json.inputs.filter((i: { from: string[] }) => i.from.includes("container")).map((i: { path: string }) => i.path)).toEqual([
      "Dockerfile.devflow",
      "conf/x.ini",
      "docker-bake.hcl",
      "platforms=linux/amd64",
      "shim",
    ]);
  });

  // The image is what goes into it; lockfiles key the dependency caches instead, so a
  // dependency bump (a Dependabot PR, a fork PR) reuses the image already in the registry.
  const rust = {
    "Cargo.toml": '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n',
    "Cargo.lock": "version = 3\n",
    "src/main.rs": "fn main() {}\n",
    "Dockerfile.devflow": "FROM localhost/dwf-test-base:1\n",
    "devflow.toml": '[project]\nname = "fp"\n[container]\nimage = "localhost/dwf-fp"\n',
  };
  const both = async (files: Record<string, string>) => {
    const json = JSON.parse((await runDwf(["fingerprint", "--json"], { cwd: fixture(files) })).stdout);
    return { image: json.fingerprint as string, deps: json.dependencies.hash as string, json };
  };

  test("a lockfile or manifest version change keys the caches, not the image", async () => {
    const base = await both(rust);
    const bumped = await both({
      ...rust,
      "Cargo.lock": "version = 3\n# bumped\n",
      "Cargo.toml": rust["Cargo.toml"].replace("0.1.0", "0.2.0"),
    });
    expect(bumped.image).toBe(base.image);
    expect(bumped.deps).not.toBe(base.deps);
    expect(base.json.dependencies.paths).toEqual([{ path: "target", from: ["rust"], kind: "build-outputs" }]);
    expect(base.json.cache.key).toBe(`dwf-${base.image.slice(0, 16)}-${base.deps.slice(0, 16)}`);
  });

  test("toolchain pins, the bake file and the platforms make a new image", async () => {
    const base = (await both(rust)).image;
    for (const [name, over] of [
      ["rust-toolchain.toml", { "rust-toolchain.toml": '[toolchain]\nchannel = "1.90.0"\n' }],
      ["docker-bake.hcl", { "docker-bake.hcl": "# bake\n" }],
      ["platforms", { "devflow.toml": rust["devflow.toml"] + 'platforms = ["linux/amd64", "linux/arm64"]\n' }],
    ] as const) {
      expect([name, (await both({ ...rust, ...over })).image]).not.toEqual([name, base]);
    }
  });

  test("package.json: only packageManager is in the image; go.mod: only its go and toolchain lines", async () => {
    const node = {
      "package.json": JSON.stringify({ name: "a", version: "1.0.0", packageManager: "pnpm@9.1.0" }),
      "Dockerfile.devflow": "FROM x\n",
    };
    const base = (await both(node)).image;
    expect(
      (await both({ ...node, "package.json": JSON.stringify({ name: "a", version: "2.0.0", packageManager: "pnpm@9.1.0" }) })).image,
    ).toBe(base);
    expect(
      (await both({ ...node, "package.json": JSON.stringify({ name: "a", version: "1.0.0", packageManager: "pnpm@9.2.0" }) })).image,
    ).not.toBe(base);
    const go = { "go.mod": "module example.com/a\n\ngo 1.22\n\nrequire example.com/b v1.0.0\n", "Dockerfile.devflow": "FROM x\n" };
    const goBase = (await both(go)).image;
    expect((await both({ ...go, "go.mod": go["go.mod"].replace("v1.0.0", "v1.1.0") })).image).toBe(goBase);
    expect((await both({ ...go, "go.mod": go["go.mod"].replace("go 1.22", "go 1.23") })).image).not.toBe(goBase);
  });

  test("--explain shows both parts", async () => {
    const r = await runDwf(["fingerprint", "--explain"], { cwd: fixture(rust) });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Image part (the tag");
    expect(r.stdout).toMatch(
      /Dependency part [0-9a-f]{16} \(keys CI's workspace cache, not the image\):\n  [0-9a-f]{64}  Cargo\.lock  \(rust\)/,
    );
    expect(r.stdout).toContain("cached: target");
    expect(r.stdout).toMatch(/cache key: dwf-[0-9a-f]{16}-[0-9a-f]{16}/);
  });
});
