// The node and bun stacks with a Biome configuration: which file turns Biome on, what each
// command runs, when the project's own scripts win, and what doctor is told to look for.
import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import type { Extension, ExtensionContext } from "../../../src/sdk/types.ts";
import { cleanup, ctx, ext, project as tree, ref } from "./helpers.ts";

afterEach(cleanup);

const project = (files: Record<string, string>): ExtensionContext => ctx(tree(files));

/** The action as a command line, with the root's entries (what Biome is handed) written as `<root>`. */
async function outcome(e: Extension, raw: string, c: ExtensionContext): Promise<string> {
  const result = await e.buildAction(ref(raw), c);
  if (!("action" in result)) return `skip: ${result.skip}`;
  const entries = readdirSync(c.root).sort().join(" ");
  return [result.action.program, ...result.action.args].join(" ").replace(entries, "<root>");
}

const pkg = (fields: Record<string, unknown>) => JSON.stringify(fields);
const withBiome = { devDependencies: { "@biomejs/biome": "2.6.8" } };

// Each stack with the lockfile that selects it.
const stacks: { name: string; lock: Record<string, string> }[] = [
  { name: "node", lock: { "package-lock.json": "{}" } },
  { name: "bun", lock: { "bun.lock": "" } },
];

for (const { name, lock } of stacks) {
  describe(`${name} with Biome`, () => {
    const e = ext(name);

    test("a biome.json turns the format and lint commands into Biome's", async () => {
      const c = project({ ...lock, "package.json": pkg(withBiome), "biome.json": "{}" });
      expect(await outcome(e, "lint:static", c)).toBe("node_modules/.bin/biome check <root>");
      expect(await outcome(e, "lint:fix", c)).toBe("node_modules/.bin/biome check --write <root>");
      expect(await outcome(e, "fmt:check", c)).toBe("node_modules/.bin/biome format <root>");
      expect(await outcome(e, "fmt:fix", c)).toBe("node_modules/.bin/biome format --write <root>");
    });

    test("Biome is handed the root's entries less dwf's cache folder, .git and node_modules", async () => {
      const c = project({
        ...lock,
        "package.json": pkg(withBiome),
        "biome.json": "{}",
        ".cache/devflow/x.json": "{}",
        "node_modules/a/b.js": "",
        ".git/HEAD": "",
        ".storybook/main.ts": "",
        "src/a.ts": "",
      });
      const result = await e.buildAction(ref("lint:static"), c);
      if (!("action" in result)) throw new Error(result.skip);
      expect(result.action.args).toEqual(["check", ...[".storybook", "biome.json", "package.json", "src", ...Object.keys(lock)].sort()]);
    });

    test.each(["biome.jsonc", ".biome.json", ".biome.jsonc"])("%s counts as a Biome configuration", async (file) => {
      const c = project({ ...lock, "package.json": pkg(withBiome), [file]: "{}" });
      expect(await outcome(e, "lint:static", c)).toBe("node_modules/.bin/biome check <root>");
    });

    test("without a configuration nothing changes: a missing script is still a skip", async () => {
      const c = project({ ...lock, "package.json": pkg(withBiome) });
      expect(await outcome(e, "lint:static", c)).toBe("skip: no script 'lint:static' or 'lint' in package.json");
      expect(await outcome(e, "fmt:check", c)).toStartWith("skip: no script 'fmt:check'");
    });

    test("a biome.json in a sub-folder is not the project's configuration", async () => {
      const c = project({ ...lock, "package.json": pkg(withBiome), "packages/a/biome.json": "{}" });
      expect(await outcome(e, "lint:static", c)).toStartWith("skip:");
    });

    test("the project's own script wins over Biome", async () => {
      const c = project({ ...lock, "package.json": pkg({ ...withBiome, scripts: { lint: "eslint ." } }), "biome.json": "{}" });
      const pm = name === "bun" ? "bun" : "npm";
      expect(await outcome(e, "lint:static", c)).toBe(`${pm} run lint`);
      // Commands the scripts do not cover still go to Biome.
      expect(await outcome(e, "fmt:check", c)).toBe("node_modules/.bin/biome format <root>");
    });

    test("Biome not among the dependencies is looked for on PATH", async () => {
      const c = project({ ...lock, "package.json": pkg({ dependencies: { left: "1.0.0" } }), "biome.json": "{}" });
      expect(await outcome(e, "lint:static", c)).toBe("biome check <root>");
    });

    test("Biome has no meaning for builds and tests", async () => {
      const c = project({ ...lock, "package.json": pkg(withBiome), "biome.json": "{}" });
      expect(await outcome(e, "build:debug", c)).toStartWith("skip:");
    });

    test("doctor checks Biome the way the tasks run it, for the commands that run it", async () => {
      const c = project({ ...lock, "package.json": pkg({ ...withBiome, scripts: { lint: "eslint ." } }), "biome.json": "{}" });
      const biome = (await e.tools!(c)).find((t) => t.name === "biome");
      expect(biome?.version).toEqual(["node_modules/.bin/biome", "--version"]);
      expect(biome?.usedBy).toEqual(["fmt:check", "fmt:fix", "lint:fix"]);
      expect(biome?.install).toContain("dwf setup:deps");
    });

    test("doctor names no Biome when the project has no configuration, or scripts for every command", async () => {
      const none = project({ ...lock, "package.json": pkg(withBiome) });
      expect((await e.tools!(none)).map((t) => t.name)).not.toContain("biome");
      const scripts = { "fmt:check": "x", "fmt:fix": "x", lint: "x", "lint:fix": "x" };
      const covered = project({ ...lock, "package.json": pkg({ ...withBiome, scripts }), "biome.json": "{}" });
      expect((await e.tools!(covered)).map((t) => t.name)).not.toContain("biome");
    });

    test("doctor's hint for a Biome on PATH says how to add it to the project", async () => {
      const c = project({ ...lock, "package.json": pkg({}), "biome.json": "{}" });
      const biome = (await e.tools!(c)).find((t) => t.name === "biome");
      expect(biome?.version).toEqual(["biome", "--version"]);
      expect(biome?.install).toContain("npm install -D -E @biomejs/biome");
    });
  });
}

test("yarn Plug'n'Play has no node_modules/.bin, so yarn starts Biome", async () => {
  const c = project({ "yarn.lock": "", ".yarnrc.yml": "", "package.json": pkg(withBiome), "biome.json": "{}" });
  expect(await outcome(ext("node"), "lint:static", c)).toBe("yarn biome check <root>");
  const biome = (await ext("node").tools!(c)).find((t) => t.name === "biome");
  expect(biome?.version).toEqual(["yarn", "biome", "--version"]);
});
