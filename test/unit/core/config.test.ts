import { describe, expect, test } from "bun:test";
import { parseConfigText, loadConfig, findConfig } from "../../../src/core/config.ts";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const err = (text: string): string => {
  try {
    parseConfigText(text, "devflow.toml");
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected an error");
};

describe("devflow.toml validation (one test per error class)", () => {
  test("the original's schema parses unchanged", () => {
    const c = parseConfigText(
      `[project]\nname = "demo"\nstack = ["rust", "node"]\n[runtime]\nprofile = "container"\n[container]\nimage = "ghcr.io/org/demo-ci"\nengine = "podman"\nfingerprint_inputs = ["tools.txt"]\n[cache]\nroot = ".cache/devflow"\nstrategy = "shared"\n[targets]\npr = ["fmt:check", "lint:static", "build:debug", "test:unit"]\n[extensions.rust]\nsource = "builtin"\nrequired = true\n[extensions.py]\nsource = "path"\npath = "./ext/devflow-ext-py"\nversion = "0.1.0"\napi_version = 1\ncapabilities = ["test:unit"]\ntrusted = true\n`,
      "devflow.toml",
    );
    expect(c.project?.stack).toEqual(["rust", "node"]);
    expect(c.targets?.pr).toHaveLength(4);
    expect(c.extensions?.py?.capabilities).toEqual(["test:unit"]);
  });

  test("TOML syntax errors carry line and column", () => {
    expect(err(`[project]\nname = "x\n`)).toMatch(/^devflow\.toml:2:\d+: invalid TOML/);
  });

  test("unknown keys name the key path and suggest", () => {
    expect(err(`[project]\nnmae = "x"`)).toBe(
      "devflow.toml: unknown key 'project.nmae'. Did you mean 'name'? Allowed keys in [project]: name, stack.",
    );
    expect(err(`[extensions.x]\nsourc = "path"`)).toMatch(/unknown key 'extensions\.x\.sourc'\. Did you mean 'source'\?/);
  });

  test("wrong types say what was found and what is allowed", () => {
    expect(err(`[targets]\npr = ["fmt:check", 42]`)).toBe("devflow.toml: targets.pr[1]: expected a string, found number 42.");
    expect(err(`[runtime]\nprofile = "vm"`)).toBe(
      `devflow.toml: runtime.profile: expected one of 'host', 'container', 'auto', found string "vm".`,
    );
    expect(err(`[extensions.x]\nrequired = "yes"`)).toMatch(/extensions\.x\.required: expected true or false/);
  });

  test("malformed commands in a profile name the index", () => {
    expect(err(`[targets]\npr = ["fmt:check", "tset:unit"]`)).toMatch(/targets\.pr\[1\]: unknown primary 'tset'.*Did you mean 'test'/);
    expect(err(`[targets]\npr = ["test::unit"]`)).toMatch(/targets\.pr\[0\]: 'test::unit' is not a command/);
  });

  test("invalid profile names are rejected", () => {
    expect(err(`[targets]\nPR = []`)).toMatch(/'targets\.PR' is not a valid name/);
  });

  test("a profile that includes itself is rejected", () => {
    expect(err(`[targets]\npr = ["check:pr"]`)).toMatch(/profile 'pr' includes itself/);
  });
});

describe("config discovery", () => {
  test("finds the nearest devflow.toml upwards, like git", () => {
    const dir = mkdtempSync(join(tmpdir(), "dwf-cfg-"));
    try {
      mkdirSync(join(dir, "a/b/c"), { recursive: true });
      writeFileSync(join(dir, "devflow.toml"), "");
      writeFileSync(join(dir, "a/devflow.toml"), "[project]\nname = 'inner'\n");
      expect(findConfig(join(dir, "a/b/c"))).toBe(join(dir, "a/devflow.toml"));
      const loaded = loadConfig({ cwd: join(dir, "a/b") });
      expect(loaded.root).toBe(join(dir, "a"));
      expect(loaded.config.project?.name).toBe("inner");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a directory, a missing file and invalid UTF-8 are clear errors", () => {
    const dir = mkdtempSync(join(tmpdir(), "dwf-cfg-"));
    try {
      mkdirSync(join(dir, "devflow.toml"));
      expect(() => loadConfig({ cwd: dir })).toThrow(/is a directory/);
      expect(() => loadConfig({ cwd: dir, explicit: "nope.toml" })).toThrow(/does not exist/);
      writeFileSync(join(dir, "bad.toml"), new Uint8Array([0x5b, 0xff, 0xfe, 0x5d]));
      expect(() => loadConfig({ cwd: dir, explicit: "bad.toml" })).toThrow(/not valid UTF-8/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("image names", () => {
  test("a tag or upper case in [container] image is rejected at load, with the corrected name", () => {
    const e = (() => {
      try {
        parseConfigText(`[container]\nimage = "ghcr.io/Org/x:1"\n`, "devflow.toml");
      } catch (err) {
        return err as Error & { hint?: string };
      }
    })();
    expect(e?.message).toBe(
      "devflow.toml: container.image = 'ghcr.io/Org/x:1' includes a tag or digest; dwf tags the image with the fingerprint itself.",
    );
    expect(e?.hint).toBe("Use 'ghcr.io/org/x'.");
    expect(parseConfigText(`[container]\nimage = "localhost:5000/team/app-ci"\n`, "devflow.toml").container?.image).toBe(
      "localhost:5000/team/app-ci",
    );
  });
});
