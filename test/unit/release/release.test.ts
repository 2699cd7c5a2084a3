// Pure parts of distribution: platform → asset name, SHA256SUMS parsing and checking,
// the download URL layout, and staging install.sh.
import { describe, expect, test } from "bun:test";
import { assetName, bunTarget, detectPlatform, hasAvx2, RELEASE_TARGETS } from "../../../src/release/platform.ts";
import { checkDigest, formatSha256Sums, parseSha256Sums, sumsEntry } from "../../../src/release/checksums.ts";
import { compareVersions } from "../../../src/release/upgrade.ts";
import { assetUrl, releaseTag, versionFromUrl } from "../../../src/release/urls.ts";
import { stageInstaller, REPO_MARKER } from "../../../src/release/installer.ts";

const AVX2 = "processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2 bmi2\n";
const NO_AVX2 = "processor\t: 0\nflags\t\t: fpu sse sse2 avx\n";

describe("platform", () => {
  test("picks the baseline build on x64 Linux without AVX2 only", () => {
    expect(assetName(detectPlatform({ platform: "linux", arch: "x64", cpuFlags: AVX2 }))).toBe("dwf-linux-x64.tar.gz");
    expect(assetName(detectPlatform({ platform: "linux", arch: "x64", cpuFlags: NO_AVX2 }))).toBe("dwf-linux-x64-baseline.tar.gz");
    expect(assetName(detectPlatform({ platform: "linux", arch: "arm64", cpuFlags: NO_AVX2 }))).toBe("dwf-linux-arm64.tar.gz");
    expect(assetName(detectPlatform({ platform: "Darwin", arch: "x86_64" }))).toBe("dwf-darwin-x64.tar.gz");
    expect(assetName(detectPlatform({ platform: "darwin", arch: "aarch64" }))).toBe("dwf-darwin-arm64.tar.gz");
  });

  test("avx2 must be a whole flag on a flags line", () => {
    expect(hasAvx2(AVX2)).toBe(true);
    expect(hasAvx2("flags\t: avx2x\nmodel name: avx2 cpu\n")).toBe(false);
  });

  test("an unsupported platform names what was found and what exists", () => {
    expect(() => detectPlatform({ platform: "win32", arch: "x64" })).toThrow(
      "no dwf release for this platform (win32 x64); releases exist for linux-x64, linux-arm64, darwin-x64, darwin-arm64.",
    );
    expect(() => detectPlatform({ platform: "linux", arch: "riscv64" })).toThrow("(linux riscv64)");
  });

  test("the release matrix maps to bun targets", () => {
    expect(RELEASE_TARGETS.map(bunTarget)).toEqual([
      "bun-linux-x64",
      "bun-linux-x64-baseline",
      "bun-linux-arm64",
      "bun-darwin-x64",
      "bun-darwin-arm64",
    ]);
  });
});

describe("SHA256SUMS", () => {
  const a = "a".repeat(64);
  test("parses sha256sum output, text and binary mode, ignoring other lines", () => {
    const sums = parseSha256Sums(`${a}  dwf-linux-x64.tar.gz\n${"B".repeat(64)} *dwf-darwin-arm64.tar.gz\n# comment\n\nnot a line\n`);
    expect([...sums]).toEqual([
      ["dwf-linux-x64.tar.gz", a],
      ["dwf-darwin-arm64.tar.gz", "b".repeat(64)],
    ]);
    expect(parseSha256Sums(formatSha256Sums(sums))).toEqual(sums);
  });

  test("a missing entry or a different digest fails", () => {
    const sums = parseSha256Sums(`${a}  x.tar.gz\n`);
    expect(checkDigest(sums, "x.tar.gz", a.toUpperCase())).toEqual({ ok: true });
    expect(checkDigest(sums, "y.tar.gz", a)).toEqual({ ok: false, reason: "SHA256SUMS has no entry for y.tar.gz" });
    expect(checkDigest(sums, "x.tar.gz", "c".repeat(64)).ok).toBe(false);
  });
});

describe("download layout", () => {
  test("a mirror holds <base>/v<version>/<asset> and <base>/latest/<asset>", () => {
    expect(assetUrl({ base: "http://m/dwf/", repository: "o/r", tag: releaseTag("1.2.3"), asset: "SHA256SUMS" })).toBe(
      "http://m/dwf/v1.2.3/SHA256SUMS",
    );
    expect(assetUrl({ base: "http://m", repository: "o/r", tag: releaseTag(undefined), asset: "a.tar.gz" })).toBe(
      "http://m/latest/a.tar.gz",
    );
  });

  test("without a mirror, GitHub releases of the repository", () => {
    expect(assetUrl({ repository: "o/r", tag: "v1.2.3", asset: "a" })).toBe("https://github.com/o/r/releases/download/v1.2.3/a");
    expect(assetUrl({ repository: "o/r", tag: "latest", asset: "a" })).toBe("https://github.com/o/r/releases/latest/download/a");
  });

  test("tags and redirected URLs", () => {
    expect(releaseTag("v2.0.0")).toBe("v2.0.0");
    expect(releaseTag("latest")).toBe("latest");
    expect(versionFromUrl("https://h/o/r/releases/download/v1.4.0-rc.1/SHA256SUMS")).toBe("1.4.0-rc.1");
    expect(versionFromUrl("http://m/latest/SHA256SUMS")).toBeUndefined();
  });
});

describe("stageInstaller", () => {
  test("fills in the one marker line", () => {
    expect(stageInstaller(`a\n${REPO_MARKER}\nb\n`, "o/r")).toBe('a\nDWF_REPO_DEFAULT="o/r"\nb\n');
  });
  test("refuses a missing or repeated marker and a malformed repository", () => {
    expect(() => stageInstaller("nothing", "o/r")).toThrow("exactly once");
    expect(() => stageInstaller(`${REPO_MARKER}\n${REPO_MARKER}`, "o/r")).toThrow("exactly once");
    expect(() => stageInstaller(REPO_MARKER, 'o/r"; rm -rf /; "')).toThrow("not owner/name");
  });
});

describe("SHA256SUMS entries and version order", () => {
  const a = "a".repeat(64);
  test("one digest per asset, or a reason", () => {
    expect(sumsEntry(`${a}  x.tar.gz\n${a.toUpperCase()} *x.tar.gz\r\n`, "x.tar.gz")).toEqual({ ok: true, hex: a });
    expect(sumsEntry(`${a}  x.tar.gz\n${"b".repeat(64)}  x.tar.gz\n`, "x.tar.gz")).toEqual({
      ok: false,
      reason: "SHA256SUMS lists x.tar.gz 2 times with different checksums",
    });
    expect(sumsEntry(`xyz  x.tar.gz\n`, "x.tar.gz").ok).toBe(false);
    expect(sumsEntry(`${a}  y.tar.gz\n`, "x.tar.gz")).toEqual({ ok: false, reason: "SHA256SUMS has no entry for x.tar.gz" });
  });
  test("versions compare numerically, pre-releases first", () => {
    expect(compareVersions("0.0.1", "0.1.0")).toBe(-1);
    expect(compareVersions("0.10.0", "0.9.9")).toBe(1);
    expect(compareVersions("1.2.0-rc.1", "1.2.0")).toBe(-1);
    expect(compareVersions("1.2.0-rc.10", "1.2.0-rc.9")).toBe(1);
    expect(compareVersions("v1.2.0", "1.2")).toBe(0);
  });
});
