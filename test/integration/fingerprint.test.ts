// `dwf fingerprint` as a user runs it: stable across checkouts, sensitive to exactly the
// inputs the stacks and Dockerfile.devflow declare, explained with --explain and --json.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fixture, runDwf } from "../support/dwf.ts";

const files = {
  "devflow.toml": '[project]\nname = "fp"\nstack = ["custom"]\n\n[container]\nimage = "localhost/dwf-fp"\nfingerprint_inputs = ["tools/*.txt"]\n',
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
    for (const [path, content] of [["Dockerfile.devflow", "FROM other\n"], ["Makefile", "test-unit:\n\tfalse\n"], ["tools/a.txt", "A\n"], ["tools/c.txt", "new\n"]]) {
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
    expect(json.inputs.map((i: { path: string }) => i.path)).toEqual(["Dockerfile.devflow", "Makefile", "tools/a.txt", "tools/b.txt"]);
    expect(json.inputs[0].hash).toBeNull();
  });

  test("a file Dockerfile.devflow COPYs (file or directory) is an input: editing it means a new image", async () => {
    const copying = { ...files, "Dockerfile.devflow": "FROM localhost/dwf-test-base:1\nCOPY shim /bin/make\nCOPY --chown=1:1 conf /etc/conf\n", shim: "#!/bin/sh\n", "conf/x.ini": "x\n" };
    const base = await fp(fixture(copying));
    expect(await fp(fixture({ ...copying, shim: "#!/bin/sh\necho edited\n" }))).not.toBe(base);
    expect(await fp(fixture({ ...copying, "conf/x.ini": "y\n" }))).not.toBe(base);
    expect(await fp(fixture({ ...copying, "src/main.txt": "still not an input\n" }))).toBe(base);
    const json = JSON.parse((await runDwf(["fingerprint", "--json"], { cwd: fixture(copying) })).stdout);
    expect(json.inputs.filter((i: { from: string[] }) => i.from.includes("container")).map((i: { path: string }) => i.path)).toEqual(["Dockerfile.devflow", "conf/x.ini", "shim"]);
  });
});
