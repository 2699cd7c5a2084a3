// The builtin stack list (extensions/index.ts) and the promises every builtin keeps alike:
// order and lookup by name, the full interface, what is never cached, no detection in an empty folder.
import { afterEach, describe, expect, test } from "bun:test";
import { builtinByName, builtinExtensions } from "../../../extensions/index.ts";
import { cleanup, ctx, project, ref } from "./helpers.ts";

afterEach(cleanup);

describe("registry", () => {
  test("builtins are listed in order and found by name", () => {
    expect(builtinExtensions.map((e) => e.name)).toEqual(["rust", "node", "bun", "python", "go", "custom"]);
    expect(builtinByName("go")?.name).toBe("go");
    expect(builtinByName("cobol")).toBeUndefined();
  });

  test("every builtin declares the full contract", async () => {
    const c = ctx(project());
    for (const e of builtinExtensions) {
      expect(e.description.length).toBeGreaterThan(0);
      expect((await e.capabilities(c)).length).toBeGreaterThan(0);
      expect(e.cacheMounts).toBeDefined();
      expect(e.env).toBeDefined();
      expect(e.fingerprintInputs).toBeDefined();
      expect(e.taskInputs).toBeDefined();
      expect(e.tools).toBeDefined();
      const docker = e.dockerfile!();
      expect(docker.install.length).toBeGreaterThan(0);
      expect(docker.base).toContain("debian");
      for (const m of (await e.cacheMounts!(c)) ?? []) expect(m.container.startsWith("/home/dwf/")).toBe(true);
    }
  });

  test("fix, package, release and setup are never cacheable; checks are", () => {
    for (const e of builtinExtensions) {
      expect(e.cacheable!(ref("fmt:fix"))).toBe(false);
      expect(e.cacheable!(ref("lint:fix"))).toBe(false);
      expect(e.cacheable!(ref("package:artifact"))).toBe(false);
      expect(e.cacheable!(ref("release:candidate"))).toBe(false);
      expect(e.cacheable!(ref("setup:deps"))).toBe(false);
      expect(e.cacheable!(ref("fmt:check"))).toBe(true);
      expect(e.cacheable!(ref("test:unit"))).toBe(true);
    }
  });

  test("nothing detects an empty directory", async () => {
    const c = ctx(project(), ["just", "uv", "cargo-nextest"]);
    for (const e of builtinExtensions) expect(await e.detect(c)).toBe(false);
  });
});
