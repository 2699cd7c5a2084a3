// The rust stack against throwaway crates: detection, cargo/nextest actions, workspaces, skips,
// cache mounts, fingerprint and task inputs, and what setup:deps fetches.
import { afterEach, describe, expect, test } from "bun:test";
import { argv, cleanup, ctx, deps, ext, project, ref, skipOf } from "./helpers.ts";

afterEach(cleanup);

describe("rust", () => {
  const rust = ext("rust");
  const crate = { "Cargo.toml": '[package]\nname = "x"\nversion = "0.1.0"\n', "src/lib.rs": "" };

  test("detects Cargo.toml", async () => {
    expect(await rust.detect(ctx(project(crate)))).toBe(true);
    expect(await rust.detect(ctx(project({ "src/lib.rs": "" })))).toBe(false);
  });

  test("maps each capability", async () => {
    const c = ctx(project({ ...crate, "tests/it.rs": "" }));
    expect(await argv(rust, "fmt:check", c)).toEqual(["cargo", "fmt", "--all", "--", "--check"]);
    expect(await argv(rust, "fmt:fix", c)).toEqual(["cargo", "fmt", "--all"]);
    expect(await argv(rust, "lint:static", c)).toEqual(["cargo", "clippy", "--all-targets", "--", "-D", "warnings"]);
    expect((await argv(rust, "lint:fix", c)).slice(0, 4)).toEqual(["cargo", "clippy", "--all-targets", "--fix"]);
    expect(await argv(rust, "build:debug", c)).toEqual(["cargo", "build"]);
    expect(await argv(rust, "build:release", c)).toEqual(["cargo", "build", "--release"]);
    expect(await argv(rust, "package:artifact", c)).toEqual(["cargo", "build", "--release"]);
    expect(await argv(rust, "setup:deps", c)).toEqual(["cargo", "fetch"]);
    expect(await argv(rust, "test:unit", c)).toEqual(["cargo", "test", "--lib", "--bins"]);
    expect(await argv(rust, "test:integration", c)).toEqual(["cargo", "test", "--test", "*"]);
    expect(await argv(rust, "test:all", c)).toEqual(["cargo", "test"]);
    for (const cap of await rust.capabilities(c)) expect("action" in (await rust.buildAction(ref(cap), c))).toBe(true);
  });

  test("uses nextest when cargo-nextest is on PATH, without overlap between unit and integration", async () => {
    const c = ctx(project({ ...crate, "tests/it.rs": "" }), ["cargo-nextest"]);
    const unit = await argv(rust, "test:unit", c);
    const integration = await argv(rust, "test:integration", c);
    expect(unit.slice(0, 3)).toEqual(["cargo", "nextest", "run"]);
    expect(unit).toContain("--lib");
    expect(unit).not.toContain("--test");
    expect(integration.slice(0, 3)).toEqual(["cargo", "nextest", "run"]);
    expect(integration).toContain("--test");
    expect(integration).not.toContain("--lib");
  });

  test("a binary-only crate is not asked for its library", async () => {
    const c = ctx(project({ "Cargo.toml": '[package]\nname = "x"\n', "src/main.rs": "" }));
    expect(await argv(rust, "test:unit", c)).toEqual(["cargo", "test", "--bins"]);
  });

  test("integration tests are skipped without a tests/ directory", async () => {
    expect(await skipOf(rust, "test:integration", ctx(project(crate)))).toContain("tests/");
  });

  test("workspaces cover every member and find member integration tests", async () => {
    const c = ctx(
      project({ "Cargo.toml": '[workspace]\nmembers = ["crates/a"]\n', "crates/a/Cargo.toml": "[package]\n", "crates/a/tests/it.rs": "" }),
    );
    expect(await argv(rust, "build:debug", c)).toEqual(["cargo", "build", "--workspace"]);
    expect(await argv(rust, "test:unit", c)).toEqual(["cargo", "test", "--workspace", "--lib", "--bins"]);
    expect(await argv(rust, "test:integration", c)).toEqual(["cargo", "test", "--workspace", "--test", "*"]);
  });

  test("unsupported commands are skips", async () => {
    expect(await skipOf(rust, "test:smoke", ctx(project(crate)))).toContain("test:smoke");
  });

  test("cache mounts registry and git, never the whole CARGO_HOME", async () => {
    const mounts = await rust.cacheMounts!(ctx(project(crate)));
    expect(mounts.map((m) => m.container)).toEqual(["/home/dwf/.cargo/registry", "/home/dwf/.cargo/git"]);
    expect(mounts.some((m) => m.env === "CARGO_HOME")).toBe(false);
  });

  test("fingerprint lists the toolchain pins; Cargo.lock keys the cached target folder", async () => {
    const c = ctx(project({ ...crate, "Cargo.lock": "", "rust-toolchain.toml": "" }));
    expect(await rust.fingerprintInputs!(c)).toEqual(["rust-toolchain.toml"]);
    expect(await rust.buildOutputs!(c)).toEqual({ paths: ["target"], inputs: ["Cargo.lock", "rust-toolchain.toml"] });
  });

  test("fmt inputs are the crate's sources; workspaces and other commands mean every file", () => {
    const c = ctx(project(crate));
    expect(rust.taskInputs!(ref("fmt:check"), c)).toEqual(
      expect.arrayContaining(["src", "tests", "benches", "examples", "Cargo.toml", "rustfmt.toml", ".rustfmt.toml"]),
    );
    expect(rust.taskInputs!(ref("test:unit"), c)).toBeUndefined();
    const ws = ctx(project({ "Cargo.toml": "[workspace]\n" }));
    expect(rust.taskInputs!(ref("fmt:check"), ws)).toBeUndefined();
    const pathDep = ctx(project({ "Cargo.toml": '[package]\n[dependencies]\nfoo = { path = "../foo" }\n' }));
    expect(rust.taskInputs!(ref("fmt:check"), pathDep)).toBeUndefined();
  });

  test("disables incremental builds only under CI", async () => {
    const root = project(crate);
    expect(await rust.env!(ctx(root, [], { CI: "true" }))).toEqual({ CARGO_INCREMENTAL: "0" });
    expect(await rust.env!(ctx(root, [], { CI: "false" }))).toEqual({});
    expect(await rust.env!(ctx(root))).toEqual({});
  });

  test("doctor needs cargo; nextest is optional", async () => {
    const tools = await rust.tools!(ctx(project(crate)));
    expect(tools.find((t) => t.name === "cargo")?.optional).toBeFalsy();
    expect(tools.find((t) => t.name === "cargo-nextest")?.optional).toBe(true);
  });
});

describe("rust: what setup:deps installs and what makes it stale", () => {
  test("rust: Cargo.lock and Cargo.toml decide, nothing in the workspace; no registry dependency, nothing to fetch", async () => {
    const crate = '[package]\nname = "x"\nversion = "0.1.0"\n';
    expect(await deps("rust", { "Cargo.toml": `${crate}[dependencies]\nserde = "1"\n` })).toEqual({
      inputs: ["Cargo.toml", "Cargo.lock"],
      paths: [],
    });
    expect(await deps("rust", { "Cargo.toml": `${crate}[dependencies]\n` })).toBeUndefined();
    expect(await deps("rust", { "Cargo.toml": `${crate}[dependencies]\nlocal = { path = "../local" }\n` })).toBeUndefined();
    expect(await deps("rust", { "Cargo.toml": `${crate}[target.'cfg(unix)'.dev-dependencies]\nlibc = "0.2"\n` })).toBeDefined();
    expect(await deps("rust", { "Cargo.toml": crate, "Cargo.lock": '[[package]]\nname = "x"\nversion = "0.1.0"\n' })).toBeUndefined();
    expect(await deps("rust", { "Cargo.toml": crate, "Cargo.lock": '[[package]]\nname = "serde"\nsource = "registry+x"\n' })).toBeDefined();
  });
});
