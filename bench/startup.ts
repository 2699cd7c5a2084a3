// Startup and size of the compiled dwf, as ratios against floors measured in the same run
// (/bin/true and an empty compiled bun binary). `--variants` also rebuilds dwf with other
// `bun build` flag sets to show what each flag buys.
// Usage: bun run bench/startup.ts [--variants] [--runs 40] [--binary dist/dwf]
import { parseArgs } from "node:util";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildDwf } from "./_util.ts";

const { values } = parseArgs({
  options: {
    variants: { type: "boolean", default: false },
    runs: { type: "string", default: "40" },
    binary: { type: "string" },
  },
});
const root = resolve(import.meta.dir, "..");
const runs = Number(values.runs);
const work = mkdtempSync(join(tmpdir(), "dwf-bench-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

function sh(argv: string[]): void {
  const r = Bun.spawnSync(argv, { cwd: root, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} failed:\n${r.stderr.toString()}`);
}

/** Build src/cli/main.ts (or `entry`) with the given extra flags; checks the result runs. */
function build(name: string, flags: string[], entry = join(root, "src/cli/main.ts")): string {
  const out = join(work, name);
  sh([process.execPath, "build", "--compile", ...flags, "--outfile", out, entry]);
  sh([out, "--version"]);
  return out;
}

/**
 * Median wall ms per command, and mean user+system CPU ms when hyperfine reports it (CPU time
 * is steadier than wall time on a shared host). hyperfine when installed, else a spawn loop.
 */
function measure(commands: Record<string, string[]>): Record<string, { wall: number; cpu?: number }> {
  if (Bun.which("hyperfine")) {
    const json = join(work, "hf.json");
    const argv = ["hyperfine", "-N", "--warmup", "5", "--runs", String(runs), "--export-json", json, "--style", "none"];
    for (const [name, cmd] of Object.entries(commands)) argv.push("-n", name, cmd.join(" "));
    sh(argv);
    const results = (
      JSON.parse(readFileSync(json, "utf8")) as { results: { command: string; median: number; user: number; system: number }[] }
    ).results;
    return Object.fromEntries(results.map((r) => [r.command, { wall: r.median * 1000, cpu: (r.user + r.system) * 1000 }]));
  }
  const medians: Record<string, { wall: number }> = {};
  for (const [name, cmd] of Object.entries(commands)) {
    const times: number[] = [];
    for (let i = 0; i < runs + 5; i++) {
      const t = performance.now();
      Bun.spawnSync(cmd, { stdout: "ignore", stderr: "ignore" });
      if (i >= 5) times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    medians[name] = { wall: times[Math.floor(times.length / 2)]! };
  }
  return medians;
}

const gz = (path: string) => Bun.gzipSync(readFileSync(path), { level: 6 }).byteLength;
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

const emptyEntry = join(work, "empty.ts");
writeFileSync(emptyEntry, "");
const empty = join(work, "empty-bun");
// The floor is built the way dwf is: without reading a .env or bunfig.toml from the cwd at start.
sh([
  process.execPath,
  "build",
  "--compile",
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
  "--outfile",
  empty,
  emptyEntry,
]);

const dwf = values.binary ? resolve(values.binary) : buildDwf();

const commands: Record<string, string[]> = {
  "/bin/true": ["/bin/true"],
  "empty bun binary": [empty],
  "dwf --version": [dwf, "--version"],
  "dwf --help": [dwf, "--help"],
};
const variants: Record<string, string[]> = {
  "no flags": [],
  "--minify": ["--minify"],
  "--bytecode --format=esm": ["--bytecode", "--format=esm"],
  "--minify --bytecode --format=esm --sourcemap=none": ["--minify", "--bytecode", "--format=esm", "--sourcemap=none"],
  "… + --splitting": ["--minify", "--bytecode", "--format=esm", "--sourcemap=none", "--splitting"],
};
const variantBins: Record<string, string> = {};
if (values.variants) {
  let i = 0;
  for (const [name, flags] of Object.entries(variants)) {
    variantBins[name] = build(`variant-${i++}`, flags);
    commands[`[${name}] --version`] = [variantBins[name]!, "--version"];
  }
}

const ms = measure(commands);
const floor = ms["/bin/true"]!;
const bunFloor = ms["empty bun binary"]!;
const cpuCol = (v: { cpu?: number }) =>
  v.cpu !== undefined && bunFloor.cpu ? ` ${v.cpu.toFixed(2)} | ${(v.cpu / bunFloor.cpu).toFixed(2)} |` : " – | – |";
console.log(`startup, median wall time of ${runs} runs and mean user+sys CPU (${Bun.which("hyperfine") ? "hyperfine -N" : "spawn loop"})`);
console.log("| command | wall ms | × /bin/true | × empty bun | CPU ms | CPU × empty bun |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const [name, v] of Object.entries(ms))
  console.log(
    `| ${name} | ${v.wall.toFixed(2)} | ${(v.wall / floor.wall).toFixed(1)} | ${(v.wall / bunFloor.wall).toFixed(2)} |${cpuCol(v)}`,
  );

console.log("\nsize");
console.log("| binary | raw | gzip -6 | × empty bun (raw) |");
console.log("|---|---:|---:|---:|");
const emptySize = statSync(empty).size;
const sized: Record<string, string> = {
  "empty bun binary": empty,
  dwf,
  ...Object.fromEntries(Object.entries(variantBins).map(([k, v]) => [`[${k}]`, v])),
};
for (const [name, path] of Object.entries(sized)) {
  const raw = statSync(path).size;
  console.log(`| ${name} | ${mb(raw)} | ${mb(gz(path))} | ${(raw / emptySize).toFixed(3)} |`);
}
