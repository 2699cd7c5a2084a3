// Builds the release assets: one `dwf-<os>-<arch>[-baseline].tar.gz` per target (the
// single executable `dwf` at the archive root), SHA256SUMS over them, and install.sh with
// the repository from package.json filled in.
// Usage: bun run scripts/release.ts --version 1.2.3 [--out dist/release] [--targets linux-x64,darwin-arm64] [--level 9]
import { parseArgs } from "node:util";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { repository } from "../src/lib/version.ts";
import { assetName, bunTarget, RELEASE_TARGETS, targetName } from "../src/release/platform.ts";
import { formatSha256Sums, sha256Hex } from "../src/release/checksums.ts";
import { stageInstaller } from "../src/release/installer.ts";

const { values } = parseArgs({
  options: {
    version: { type: "string" },
    out: { type: "string", default: "dist/release" },
    targets: { type: "string" },
    level: { type: "string", default: "9" },
  },
});

const root = resolve(import.meta.dir, "..");
const version = (values.version ?? process.env.GITHUB_REF_NAME ?? "").replace(/^v/, "");
if (!/^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/.test(version)) fail(`--version must be a semver like 1.2.3 (or v1.2.3), got '${version}'`);
const out = resolve(root, values.out!);
const wanted = values.targets?.split(",").map((t) => t.trim());
const targets = RELEASE_TARGETS.filter((t) => !wanted || wanted.includes(targetName(t)));
if (wanted && targets.length !== wanted.length)
  fail(`--targets: unknown target in '${values.targets}'; known: ${RELEASE_TARGETS.map(targetName).join(", ")}`);
const level = Number(values.level) as 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const sums: [string, string][] = [];
for (const target of targets) {
  const dir = join(out, targetName(target));
  const build = Bun.spawnSync(
    [
      process.execPath,
      "run",
      join(root, "scripts/build.ts"),
      "--target",
      bunTarget(target),
      "--version",
      version,
      "--outfile",
      join(dir, "dwf"),
    ],
    {
      cwd: root,
      stdout: "inherit",
      stderr: "inherit",
    },
  );
  if (build.exitCode !== 0) fail(`building ${targetName(target)} failed`);
  // Owner and mode are fixed so the archive does not depend on who built it.
  const tar = Bun.spawnSync(["tar", "-C", dir, "--owner=0", "--group=0", "--numeric-owner", "--mode=0755", "-cf", "-", "dwf"], {
    stdout: "pipe",
    stderr: "pipe",
    maxBuffer: 1 << 30,
  });
  if (tar.exitCode !== 0) fail(`packing ${targetName(target)} failed: ${tar.stderr.toString()}`);
  const archive = Bun.gzipSync(tar.stdout as Uint8Array<ArrayBuffer>, { level });
  const name = assetName(target);
  writeFileSync(join(out, name), archive);
  sums.push([name, sha256Hex(archive)]);
  console.error(`release: ${name} (${(archive.byteLength / 1e6).toFixed(1)} MB)`);
}
writeFileSync(join(out, "SHA256SUMS"), formatSha256Sums(sums));
writeFileSync(join(out, "install.sh"), stageInstaller(readFileSync(join(root, "install.sh"), "utf8"), repository()), { mode: 0o755 });
console.error(`release: ${out}/SHA256SUMS, ${out}/install.sh (repository ${repository()})`);

function fail(message: string): never {
  console.error(`release: ${message}`);
  process.exit(1);
}
