// Go stack: gofmt, go vet, go build and go test over every package of the module.
// Integration tests are the ones behind the `integration` build tag.
import type { ActionResult, CommandRef, DependencySpec, Extension, ExtensionContext, ToolPin } from "../../src/sdk/types.ts";
import { formatRef } from "../../src/sdk/command-ref.ts";
import { DEBIAN_BASE, defaultCacheable, existingFiles, isFile, readText, run, unsupported } from "../shared.ts";
import { IMAGE_HOME } from "../../src/sdk/image.ts";

const GO_VERSION = "1.24.1";

const CAPABILITIES = [
  "setup:deps",
  "fmt:check",
  "fmt:fix",
  "lint:static",
  "build:debug",
  "build:release",
  "test:unit",
  "test:integration",
  "test:all",
  "package:artifact",
];

/**
 * `gofmt -l` lists unformatted files but exits 0, so a constant script turns a non-empty
 * list into a failure. Nothing from the project is spliced into it.
 */
export const GOFMT_CHECK =
  'unformatted="$(gofmt -l .)" || exit 1; if [ -n "$unformatted" ]; then echo "gofmt: these files need formatting:"; echo "$unformatted"; exit 1; fi';

function buildAction(ref: CommandRef, _ctx: ExtensionContext): ActionResult {
  switch (formatRef(ref)) {
    case "setup:deps":
      return run("go", ["mod", "download"]);
    case "fmt:check":
      return run("sh", ["-c", GOFMT_CHECK]);
    case "fmt:fix":
      return run("gofmt", ["-w", "."]);
    case "lint:static":
      return run("go", ["vet", "./..."]);
    case "build:debug":
      return run("go", ["build", "./..."]);
    case "build:release":
      return run("go", ["build", "-trimpath", "./..."]);
    case "test:unit":
      return run("go", ["test", "./..."]);
    case "test:integration":
    case "test:all":
      return run("go", ["test", "-tags", "integration", "./..."]);
    case "package:artifact":
      // A directory -o collects the binaries of every main package instead of discarding them.
      return run("go", ["build", "-trimpath", "-o", "dist/", "./..."]);
    default:
      return unsupported("go", ref);
  }
}

/**
 * `go mod download` fills GOMODCACHE (a cache mount in the container), not the workspace: no
 * paths, go.mod and go.sum decide. Nothing to download without a `require`, or when vendored.
 */
function dependencies(ctx: ExtensionContext): DependencySpec | undefined {
  if (isFile(ctx.root, "vendor/modules.txt")) return undefined;
  if (!/^\s*require\b/m.test(readText(ctx.root, "go.mod") ?? "")) return undefined;
  return { inputs: ["go.mod", "go.sum", ...existingFiles(ctx.root, ["go.work", "go.work.sum"])], paths: [] };
}

/** go.mod's `toolchain go1.x.y` line: the toolchain `go` selects and reports (`go version go1.x.y …`). */
function toolPins(program: string, ctx: ExtensionContext): ToolPin[] | undefined {
  if (program !== "go") return undefined;
  const m = /^\s*toolchain\s+go(\S+)\s*$/m.exec(readText(ctx.root, "go.mod") ?? "");
  return m ? [{ file: "go.mod", version: m[1]!, probe: ["go", "version"] }] : undefined;
}

export const go: Extension = {
  name: "go",
  description: "Go modules (gofmt, go vet, go build, go test)",
  detect: (ctx) => isFile(ctx.root, "go.mod"),
  capabilities: () => [...CAPABILITIES],
  buildAction,
  dependencies,
  cacheMounts: () => [
    { path: "mod", container: `${IMAGE_HOME}/go/pkg/mod`, env: "GOMODCACHE" },
    { path: "build", container: `${IMAGE_HOME}/.cache/go-build`, env: "GOCACHE" },
  ],
  env: () => ({}),
  // The go and toolchain lines pin the toolchain; go.sum keys the module cache, not the image.
  fingerprintInputs: () => ["go.mod#lines=^(go|toolchain)\\s", "go.work#lines=^(go|toolchain)\\s"],
  toolPins,
  machineEnv: ["GOPATH", "GOROOT"],
  taskInputs: () => undefined,
  cacheable: defaultCacheable,
  tools: () => [{ name: "go", version: ["go", "version"], install: "install Go from https://go.dev/dl/ (or your OS packages)" }],
  dockerfile: () => ({
    base: DEBIAN_BASE,
    packages: ["gcc", "libc6-dev"],
    install: [
      `curl -fsSL "https://go.dev/dl/go${GO_VERSION}.linux-$(dpkg --print-architecture).tar.gz" | tar -xz -C /usr/local && ln -sf /usr/local/go/bin/go /usr/local/go/bin/gofmt /usr/local/bin/`,
    ],
  }),
};
