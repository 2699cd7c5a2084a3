// A JavaScript project with a biome.json and no lint or format scripts: dwf runs the Biome
// this repository installs, fails on a badly formatted file with Biome's own report, fixes it
// with fmt:fix, and passes once the tree is clean.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { ROOT, fixture, runDwf } from "../support/dwf.ts";

setDefaultTimeout(60_000);

// No dependencies declared, so there is nothing to install: Biome comes from PATH, where this
// repository's devDependency puts it for the suite.
const env = { PATH: `${join(ROOT, "node_modules/.bin")}${delimiter}${process.env.PATH ?? ""}` };

const BIOME_JSON = '{ "formatter": { "indentStyle": "space", "indentWidth": 2 } }\n';
const CLEAN = "export const answer = { value: 42 };\n";
const MESSY = "export const answer = {value:42}\n";

function project(lockfile: Record<string, string>, source: string): string {
  return fixture(
    {
      ...lockfile,
      "package.json": `${JSON.stringify({ name: "biome-fixture", private: true }, null, 2)}\n`,
      "biome.json": BIOME_JSON,
      "src/answer.ts": source,
    },
    { git: true },
  );
}

for (const [stack, lockfile] of [
  ["node", {}],
  ["bun", { "bun.lock": "" }],
] as const) {
  describe(`${stack} with biome.json`, () => {
    test("a badly formatted file fails lint:static and fmt:check with Biome's report", async () => {
      const dir = project(lockfile, MESSY);
      const lint = await runDwf(["lint:static"], { cwd: dir, env });
      expect(lint.code).toBe(1);
      expect(lint.all).toContain(`failed lint:static [${stack}]`);
      expect(lint.all).toContain("src/answer.ts");
      expect(lint.all).toContain("Formatter would have printed the following content");
      const fmt = await runDwf(["fmt:check"], { cwd: dir, env });
      expect(fmt.code).toBe(1);
      expect(fmt.all).toContain("Formatter would have printed the following content");
    });

    test("fmt:fix rewrites the file, after which lint:static passes", async () => {
      const dir = project(lockfile, MESSY);
      const fix = await runDwf(["fmt:fix"], { cwd: dir, env });
      expect(fix.code).toBe(0);
      expect(readFileSync(join(dir, "src/answer.ts"), "utf8")).toBe(CLEAN);
      const lint = await runDwf(["lint:static"], { cwd: dir, env });
      expect(lint.code).toBe(0);
      expect(lint.all).toContain(`passed lint:static [${stack}]`);
    });

    test("a clean tree passes lint:static and fmt:check", async () => {
      const dir = project(lockfile, CLEAN);
      const r = await runDwf(["lint:static"], { cwd: dir, env });
      expect(r.code).toBe(0);
      expect((await runDwf(["fmt:check"], { cwd: dir, env })).code).toBe(0);
    });

    test("lint:fix applies Biome's safe fixes, formatting among them", async () => {
      const dir = project(lockfile, MESSY);
      expect((await runDwf(["lint:fix"], { cwd: dir, env })).code).toBe(0);
      expect(readFileSync(join(dir, "src/answer.ts"), "utf8")).toBe(CLEAN);
      expect((await runDwf(["lint:static"], { cwd: dir, env })).code).toBe(0);
    });
  });
}
