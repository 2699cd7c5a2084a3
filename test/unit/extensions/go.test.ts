// The go stack against throwaway modules: detection, go tool actions, the gofmt check script,
// cache mounts, fingerprint and what setup:deps downloads.
import { afterEach, describe, expect, test } from "bun:test";
import { GOFMT_CHECK } from "../../../extensions/go/index.ts";
import { argv, cleanup, ctx, deps, ext, project, ref } from "./helpers.ts";

afterEach(cleanup);

describe("go", () => {
  const go = ext("go");

  test("detects go.mod", async () => {
    expect(await go.detect(ctx(project({ "go.mod": "module x\n" })))).toBe(true);
    expect(await go.detect(ctx(project({ "main.go": "" })))).toBe(false);
  });

  test("maps each capability", async () => {
    const c = ctx(project({ "go.mod": "module x\n" }));
    expect(await argv(go, "fmt:check", c)).toEqual(["sh", "-c", GOFMT_CHECK]);
    expect(await argv(go, "fmt:fix", c)).toEqual(["gofmt", "-w", "."]);
    expect(await argv(go, "lint:static", c)).toEqual(["go", "vet", "./..."]);
    expect(await argv(go, "build:debug", c)).toEqual(["go", "build", "./..."]);
    expect(await argv(go, "test:unit", c)).toEqual(["go", "test", "./..."]);
    expect(await argv(go, "test:integration", c)).toEqual(["go", "test", "-tags", "integration", "./..."]);
    expect(await argv(go, "setup:deps", c)).toEqual(["go", "mod", "download"]);
    for (const cap of await go.capabilities(c)) expect("action" in (await go.buildAction(ref(cap), c))).toBe(true);
  });

  test("the gofmt check fails on a non-empty list and passes on an empty one", () => {
    const withList = (files: string) => Bun.spawnSync(["sh", "-c", GOFMT_CHECK.replace("gofmt -l .", `printf '${files}'`)]).exitCode;
    expect(withList("")).toBe(0);
    expect(withList("main.go\\n")).toBe(1);
    expect(GOFMT_CHECK).not.toMatch(/\$\{?[0-9@*]/);
  });

  test("cache mounts, fingerprint", async () => {
    const c = ctx(project({ "go.mod": "", "go.sum": "" }));
    expect((await go.cacheMounts!(c)).map((m) => m.env)).toEqual(["GOMODCACHE", "GOCACHE"]);
    expect(await go.fingerprintInputs!(c)).toEqual(["go.mod#lines=^(go|toolchain)\\s", "go.work#lines=^(go|toolchain)\\s"]);
    expect(go.taskInputs!(ref("test:unit"), c)).toBeUndefined();
  });
});

describe("go: what setup:deps installs and what makes it stale", () => {
  test("go: go.mod and go.sum decide; a module without requirements or with vendor/ downloads nothing", async () => {
    expect(await deps("go", { "go.mod": "module x\n\ngo 1.22\n\nrequire example.com/a v1.0.0\n" })).toEqual({
      inputs: ["go.mod", "go.sum"],
      paths: [],
    });
    expect(await deps("go", { "go.mod": "module x\n\ngo 1.22\n" })).toBeUndefined();
    expect(await deps("go", { "go.mod": "module x\nrequire example.com/a v1.0.0\n", "vendor/modules.txt": "" })).toBeUndefined();
  });
});
