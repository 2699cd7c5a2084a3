// Which release asset fits this machine: os + arch, and the baseline x64 build on Linux
// CPUs without AVX2. detectPlatform is pure over its inputs so tests can feed any
// uname/cpuinfo; thisPlatform feeds it the running machine.
import { readFileSync } from "node:fs";
import { UserError } from "../lib/errors.ts";

type ReleaseOs = "linux" | "darwin";
type ReleaseArch = "x64" | "arm64";

interface ReleasePlatform {
  os: ReleaseOs;
  arch: ReleaseArch;
  /** x64 Linux without AVX2: the build that runs on older CPUs. */
  baseline: boolean;
}

/** The five builds a release carries; install.sh and the release workflow list the same. */
export const RELEASE_TARGETS: readonly ReleasePlatform[] = [
  { os: "linux", arch: "x64", baseline: false },
  { os: "linux", arch: "x64", baseline: true },
  { os: "linux", arch: "arm64", baseline: false },
  { os: "darwin", arch: "x64", baseline: false },
  { os: "darwin", arch: "arm64", baseline: false },
];

/** "linux-x64, linux-arm64, …": the baseline build is a variant, not a platform of its own. */
const SUPPORTED_TEXT = RELEASE_TARGETS.filter((t) => !t.baseline)
  .map(targetName)
  .join(", ");

/** Normalise node-style (`process.platform`/`arch`) or uname-style names. */
export function detectPlatform(input: { platform: string; arch: string; cpuFlags?: string }): ReleasePlatform {
  const os = { linux: "linux", Linux: "linux", darwin: "darwin", Darwin: "darwin" }[input.platform] as ReleaseOs | undefined;
  const arch = { x64: "x64", x86_64: "x64", amd64: "x64", arm64: "arm64", aarch64: "arm64" }[input.arch] as ReleaseArch | undefined;
  if (!os || !arch) {
    throw new UserError(
      `no dwf release for this platform (${input.platform} ${input.arch}); releases exist for ${SUPPORTED_TEXT}.`,
      "Build from source instead: sh install.sh --from-source",
    );
  }
  const baseline = os === "linux" && arch === "x64" && input.cpuFlags !== undefined && !hasAvx2(input.cpuFlags);
  return { os, arch, baseline };
}

/** The release platform of the machine this process runs on. */
export function thisPlatform(): ReleasePlatform {
  let cpuFlags: string | undefined;
  if (process.platform === "linux" && process.arch === "x64") {
    try {
      cpuFlags = readFileSync("/proc/cpuinfo", "utf8");
    } catch {
      // No /proc: assume a CPU with AVX2, like any x64 machine of the last decade.
    }
  }
  return detectPlatform({ platform: process.platform, arch: process.arch, cpuFlags });
}

/** True when a /proc/cpuinfo text lists avx2 among its flags. */
export function hasAvx2(cpuinfo: string): boolean {
  return /^flags\s*:.*\bavx2\b/m.test(cpuinfo);
}

export function targetName(p: ReleasePlatform): string {
  return `${p.os}-${p.arch}${p.baseline ? "-baseline" : ""}`;
}

/** `dwf-linux-x64.tar.gz`, `dwf-linux-x64-baseline.tar.gz`, … */
export function assetName(p: ReleasePlatform): string {
  return `dwf-${targetName(p)}.tar.gz`;
}

/** The `bun build --target` value for a release platform. */
export function bunTarget(p: ReleasePlatform): string {
  return `bun-${targetName(p)}`;
}
