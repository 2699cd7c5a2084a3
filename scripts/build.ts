// Builds the self-contained `dwf` binary with `bun build --compile`, then runs it: a
// failed bytecode step can still exit 0 and leave a binary that throws at start.
// Usage: bun run scripts/build.ts [--target bun-linux-x64] [--outfile dist/dwf] [--version 1.2.3]
import { parseArgs } from "node:util";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";

const { values } = parseArgs({
  options: {
    target: { type: "string" },
    outfile: { type: "string", default: "dist/dwf" },
    version: { type: "string" },
    "no-bytecode": { type: "boolean", default: false },
  },
});

const root = resolve(import.meta.dir, "..");
const outfile = resolve(root, values.outfile!);
mkdirSync(dirname(outfile), { recursive: true });
const version = values.version?.replace(/^v/, "");
const argv = [
  process.execPath,
  "build",
  "--compile",
  "--minify",
  "--sourcemap=none",
  "--format=esm",
  // Lazy command modules become separate chunks, so `--version` loads only its own code.
  "--splitting",
  // A project's .env or bunfig.toml is the project's business, not dwf's: loading them would
  // change the environment tasks see (and their cache keys), and reading them costs ~4 ms a start.
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
  // Most of a short run is code that executes once: compiling it on a second thread only
  // competes with the run (measured ~2 ms of a ~13 ms all-cached verify). The normal policy
  // returns when a task starts (src/core/execute.ts), since long work may follow.
  "--compile-jit-policy=100",
  ...(values["no-bytecode"] ? [] : ["--bytecode"]),
  ...(values.target ? [`--target=${values.target}`] : []),
  ...(version ? ["--define", `DWF_BUILD_VERSION=${JSON.stringify(version)}`] : []),
  // Identifies this build: what one build validated and remembered, another build checks again.
  "--define",
  `DWF_BUILD_ID=${JSON.stringify(`${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 8)}`)}`,
  "--outfile",
  outfile,
  resolve(root, "src/cli/main.ts"),
];
const build = Bun.spawnSync(argv, { cwd: root, stdout: "inherit", stderr: "inherit" });
if (build.exitCode !== 0) process.exit(build.exitCode ?? 1);

// Smoke-test binaries this machine can run.
const native = !values.target || values.target.startsWith(`bun-${process.platform}-${process.arch}`);
if (native) {
  const check = Bun.spawnSync([outfile, "--version"], { stdout: "pipe", stderr: "pipe" });
  const printed = check.stdout.toString().trim();
  if (check.exitCode !== 0 || !printed.startsWith("dwf ")) {
    console.error(`build: ${outfile} does not run: ${check.stderr.toString() || printed}`);
    process.exit(1);
  }
  console.error(`build: ${outfile} (${printed})`);
} else {
  console.error(`build: ${outfile} (${values.target}; not run on this machine)`);
}
