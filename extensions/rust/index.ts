// Rust stack: cargo fmt, clippy, build and tests, with cargo-nextest when it is installed.
// Unit and integration selectors split the test targets so no test runs twice.
import type {
  ActionResult,
  CommandRef,
  DependencySpec,
  Extension,
  ExtensionContext,
  ToolPin,
  ToolRequirement,
} from "../../src/sdk/types.ts";
import { parse } from "smol-toml";
import { formatRef } from "../../src/sdk/command-ref.ts";
import {
  DEBIAN_BASE,
  defaultCacheable,
  existingFiles,
  firstLine,
  isDir,
  isFile,
  listRoot,
  pinnedVersion,
  readText,
  run,
  skip,
  unsupported,
} from "../shared.ts";
import { IMAGE_HOME } from "../../src/sdk/image.ts";

const RUST_VERSION = "1.95.0";

const CAPABILITIES = [
  "setup:deps",
  "fmt:check",
  "fmt:fix",
  "lint:static",
  "lint:fix",
  "build:debug",
  "build:release",
  "test:unit",
  "test:integration",
  "test:all",
  "package:artifact",
];

interface Manifest {
  /** Has a [workspace] table: commands take --workspace so every member is covered. */
  workspace: boolean;
  /** Refers to code outside the crate's own directories (workspace members, path dependencies). */
  reachesOut: boolean;
}

function readManifest(root: string): Manifest {
  const text = readText(root, "Cargo.toml") ?? "";
  const workspace = /^\s*\[workspace\]/m.test(text);
  return { workspace, reachesOut: workspace || /^\s*path\s*=/m.test(text) || /[{,]\s*path\s*=/.test(text) };
}

/** `cargo test --lib` fails outright on a package without a library target. */
function hasLibTarget(root: string): boolean {
  return isFile(root, "src/lib.rs") || /^\s*\[lib\]/m.test(readText(root, "Cargo.toml") ?? "");
}

const SCAN_SKIP = new Set(["target", "node_modules"]);

/**
 * `cargo test --test '*'` fails when no package has an integration test, so look for a
 * `tests/` directory beside the root manifest or, in a workspace, a member manifest up to
 * two levels down.
 */
function hasIntegrationTests(root: string, depth: number): boolean {
  if (isFile(root, "Cargo.toml") && isDir(root, "tests")) return true;
  if (depth === 0) return false;
  return listRoot(root).some(
    (name) => !name.startsWith(".") && !SCAN_SKIP.has(name) && isDir(root, name) && hasIntegrationTests(`${root}/${name}`, depth - 1),
  );
}

function testAction(kind: "unit" | "integration", ctx: ExtensionContext, ws: string[]): ActionResult {
  const nextest = ctx.which("cargo-nextest") !== null;
  if (kind === "integration") {
    if (!hasIntegrationTests(ctx.root, ws.length > 0 ? 2 : 0)) return skip("no tests/ directory with integration tests");
    return nextest
      ? run("cargo", ["nextest", "run", ...ws, "--test", "*", "--no-tests=warn"])
      : run("cargo", ["test", ...ws, "--test", "*"]);
  }
  const targets = ws.length > 0 || hasLibTarget(ctx.root) ? ["--lib", "--bins"] : ["--bins"];
  // Recent nextest fails a run that selects no tests; a crate without unit tests is not a failure.
  return nextest ? run("cargo", ["nextest", "run", ...ws, ...targets, "--no-tests=warn"]) : run("cargo", ["test", ...ws, ...targets]);
}

function buildAction(ref: CommandRef, ctx: ExtensionContext): ActionResult {
  const ws = readManifest(ctx.root).workspace ? ["--workspace"] : [];
  switch (formatRef(ref)) {
    case "setup:deps":
      return run("cargo", ["fetch"]);
    case "fmt:check":
      return run("cargo", ["fmt", "--all", "--", "--check"]);
    case "fmt:fix":
      return run("cargo", ["fmt", "--all"]);
    case "lint:static":
      return run("cargo", ["clippy", ...ws, "--all-targets", "--", "-D", "warnings"]);
    case "lint:fix":
      return run("cargo", ["clippy", ...ws, "--all-targets", "--fix", "--allow-dirty", "--allow-staged"]);
    case "build:debug":
      return run("cargo", ["build", ...ws]);
    case "build:release":
    case "package:artifact":
      return run("cargo", ["build", ...ws, "--release"]);
    case "test:unit":
      return testAction("unit", ctx, ws);
    case "test:integration":
      return testAction("integration", ctx, ws);
    case "test:all":
      return run("cargo", ["test", ...ws]);
    default:
      return unsupported("rust", ref);
  }
}

/**
 * clippy checks every crate again under its own driver and settings, so the dependency crates
 * `cargo build` compiled are "Checking" again in a lint job. Warming runs the lint command's own
 * argv: cargo's fingerprints of the dependencies (plain rustc under clippy) and of workspace
 * members (clippy-driver, keyed by the clippy arguments) then match the lint job's exactly,
 * which a `cargo check` or a clippy with other arguments does not for members. Formatting and
 * tests compile nothing the build has not: nothing to warm.
 */
function warmAction(ref: CommandRef, ctx: ExtensionContext): ActionResult | undefined {
  return formatRef(ref) === "lint:static" ? buildAction(ref, ctx) : undefined;
}

const DEPENDENCY_TABLES = ["dependencies", "dev-dependencies", "build-dependencies"];

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A dependency that comes from a registry or git (a bare `path` one is already in the tree). */
function fetched(spec: unknown): boolean {
  return !isTable(spec) || !("path" in spec) || "git" in spec || "version" in spec;
}

/**
 * Whether `cargo fetch` has anything to download: Cargo.lock lists a package with a source, or
 * (no lockfile yet) the manifest declares a registry or git dependency. A workspace without a
 * lockfile, or a manifest that does not parse, counts as yes: cargo tells best.
 */
function fetchesDependencies(root: string): boolean {
  const lock = readText(root, "Cargo.lock");
  if (lock !== undefined) return /^source = "/m.test(lock);
  let doc: Record<string, unknown>;
  try {
    doc = parse(readText(root, "Cargo.toml") ?? "") as Record<string, unknown>;
  } catch {
    return true;
  }
  if (isTable(doc.workspace)) return true;
  const tables = [doc, ...Object.values(isTable(doc.target) ? doc.target : {}).filter(isTable)];
  return tables.some((t) =>
    DEPENDENCY_TABLES.some((name) => isTable(t[name]) && Object.values(t[name] as Record<string, unknown>).some(fetched)),
  );
}

/** cargo fetch fills CARGO_HOME (a cache mount in the container), not the workspace: no paths, inputs alone decide. */
function dependencies(ctx: ExtensionContext): DependencySpec | undefined {
  if (!fetchesDependencies(ctx.root)) return undefined;
  return { inputs: ["Cargo.toml", "Cargo.lock", ...existingFiles(ctx.root, [".cargo/config.toml"])], paths: [] };
}

/** Formatting touches only the crate's own sources; anything reaching outside is left to "every file". */
function taskInputs(ref: CommandRef, ctx: ExtensionContext): string[] | undefined {
  if (ref.primary !== "fmt" || readManifest(ctx.root).reachesOut) return undefined;
  return ["src", "tests", "benches", "examples", "build.rs", "Cargo.toml", "rustfmt.toml", ".rustfmt.toml"];
}

const TOOLCHAIN_PINS = ["rust-toolchain.toml", "rust-toolchain"];

/**
 * The target folder, keyed by the lockfile (the dependency crates compiled into it) and the
 * toolchain pins; cargo itself decides which of the project's own crates are stale.
 */
function buildOutputs(ctx: ExtensionContext) {
  const lock = existingFiles(ctx.root, ["Cargo.lock"]);
  return {
    paths: ["target"],
    inputs: [...(lock.length ? lock : ["Cargo.toml"]), ...existingFiles(ctx.root, [...TOOLCHAIN_PINS, ".cargo/config.toml"])],
  };
}

const CARGO_HOME = `${IMAGE_HOME}/.cargo`;
const RUSTUP_HOME = `${IMAGE_HOME}/.rustup`;

/**
 * Shell that puts a wrapper for each rustup proxy (cargo, rustc, rustfmt, …) in binDir. A bare
 * symlink is not enough: the container runner may run tasks as any uid with HOME=/tmp, where a
 * proxy looks for $HOME/.rustup, finds no default toolchain and fails. The wrappers default
 * RUSTUP_HOME and CARGO_HOME to the image's own, and still honour values set by the user.
 */
export function proxyWrappers(cargoHome: string, rustupHome: string, binDir: string): string {
  const script = `#!/bin/sh\\nexport RUSTUP_HOME="\${RUSTUP_HOME:-${rustupHome}}" CARGO_HOME="\${CARGO_HOME:-${cargoHome}}"\\nexec %s "$@"\\n`;
  return `for p in ${cargoHome}/bin/*; do printf '${script}' "$p" > "${binDir}/\${p##*/}" && chmod 755 "${binDir}/\${p##*/}" || exit 1; done`;
}

/**
 * The toolchain rustup picks from rust-toolchain.toml (`[toolchain] channel`) or the older
 * rust-toolchain file (a bare channel, or the same TOML): cargo and rustc report its version.
 */
function toolPins(program: string, ctx: ExtensionContext): ToolPin[] | undefined {
  if (program !== "cargo" && program !== "rustc") return undefined;
  for (const file of TOOLCHAIN_PINS) {
    const text = readText(ctx.root, file);
    if (text === undefined) continue;
    let channel: unknown;
    try {
      channel = (parse(text) as { toolchain?: { channel?: unknown } }).toolchain?.channel;
    } catch {
      channel = file === "rust-toolchain" ? firstLine(ctx.root, file) : undefined;
    }
    const version = pinnedVersion(channel);
    return version ? [{ file, version, probe: [program, "--version"] }] : undefined;
  }
  return undefined;
}

function isCI(ctx: ExtensionContext): boolean {
  const ci = ctx.env.CI;
  return ci !== undefined && ci !== "" && ci !== "0" && ci.toLowerCase() !== "false";
}

function tools(): ToolRequirement[] {
  return [
    { name: "cargo", version: ["cargo", "--version"], install: "install rustup (https://rustup.rs), then: rustup default stable" },
    { name: "rustfmt", version: ["cargo", "fmt", "--version"], install: "rustup component add rustfmt", usedBy: ["fmt"] },
    { name: "clippy", version: ["cargo", "clippy", "--version"], install: "rustup component add clippy", usedBy: ["lint"] },
    { name: "cargo-nextest", version: ["cargo", "nextest", "--version"], install: "cargo install cargo-nextest --locked", optional: true },
  ];
}

export const rust: Extension = {
  name: "rust",
  description: "Rust projects (cargo fmt, clippy, build, test or nextest)",
  detect: (ctx) => isFile(ctx.root, "Cargo.toml"),
  capabilities: () => [...CAPABILITIES],
  buildAction,
  warmAction,
  dependencies,
  // Only registry and git: mounting all of CARGO_HOME would hide the container's toolchain bin dir.
  // They have no variables of their own, so the host keeps its ~/.cargo and only the container mounts them.
  cacheMounts: () => [
    { path: "registry", container: `${IMAGE_HOME}/.cargo/registry` },
    { path: "git", container: `${IMAGE_HOME}/.cargo/git` },
  ],
  // Incremental artifacts only pay off on a machine that rebuilds the same tree; CI does not.
  env: (ctx): Record<string, string> => (isCI(ctx) ? { CARGO_INCREMENTAL: "0" } : {}),
  // The toolchain pins make the image; Cargo.lock keys the cached target folder instead.
  fingerprintInputs: (ctx) => existingFiles(ctx.root, TOOLCHAIN_PINS),
  buildOutputs,
  taskInputs,
  toolPins,
  machineEnv: ["CARGO_HOME", "RUSTUP_HOME"],
  // What `cargo build` leaves for the tests to reuse: the profile's folder (not the other profile's).
  taskOutputs: (ref) =>
    ref.selector === "debug" && ref.primary === "build"
      ? ["target/debug"]
      : ref.primary === "build" && ref.selector === "release"
        ? ["target/release"]
        : [],
  cacheable: defaultCacheable,
  tools,
  dockerfile: () => ({
    base: DEBIAN_BASE,
    packages: ["gcc", "libc6-dev"],
    install: [
      // CARGO_HOME and RUSTUP_HOME are the container defaults for HOME=/home/dwf, so the cache
      // mounts land under the cargo the image installs; the proxies are linked onto PATH.
      `mkdir -p ${IMAGE_HOME} && export CARGO_HOME=${CARGO_HOME} RUSTUP_HOME=${RUSTUP_HOME} && curl --proto '=https' --tlsv1.2 -fsSL https://sh.rustup.rs | sh -s -- -y --no-modify-path --profile minimal --default-toolchain ${RUST_VERSION} --component rustfmt,clippy && ${proxyWrappers(CARGO_HOME, RUSTUP_HOME, "/usr/local/bin")} && chmod -R a+rwX ${CARGO_HOME} ${RUSTUP_HOME}`,
    ],
  }),
};
