// `dwf upgrade` against a release host on 127.0.0.1: a copy of the freshly built dwf
// replaces itself with a newer build, or refuses and stays byte-for-byte the same.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanEnv, dwfBinary } from "../support/dwf.ts";
import {
  currentVersion,
  dwfBuiltAs,
  nativeAsset,
  packArchive,
  sha256,
  startReleaseServer,
  sumsFile,
  type ReleaseServer,
} from "../support/release-server.ts";

const NEXT = "9.9.9";
const dirs: string[] = [];
let server: ReleaseServer;
let current: string;
let asset: string;

beforeAll(() => {
  current = currentVersion();
  asset = nativeAsset();
  const next = packArchive(dwfBuiltAs(NEXT));
  server = startReleaseServer(
    {
      [`v${NEXT}`]: { [asset]: next, SHA256SUMS: sumsFile({ [asset]: next }) },
      "v8.8.8": { [asset]: next, SHA256SUMS: `${"f".repeat(64)}  ${asset}\n` },
    },
    `v${NEXT}`,
  );
}, 180_000);

afterAll(() => {
  server?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A private copy of dist/dwf, so upgrading it leaves the suite's binary alone. */
function installedCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), "dwf-upgrade-"));
  dirs.push(dir);
  const bin = join(dir, "dwf");
  copyFileSync(dwfBinary(), bin);
  return bin;
}

async function run(bin: string, args: string[], env: Record<string, string | undefined> = {}) {
  const proc = Bun.spawn([bin, ...args], { env: cleanEnv({ DWF_DOWNLOAD_BASE: server.base, ...env }), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, all: stdout + stderr };
}

/** Pids of processes whose command line mentions `path` (read from /proc). */
function pidsRunning(path: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, "utf8").includes(path)) out.push(Number(name));
    } catch {}
  }
  return out;
}

const versionOf = (bin: string) => Bun.spawnSync([bin, "--version"], { stdout: "pipe" }).stdout.toString().trim();
const digest = (bin: string) => sha256(readFileSync(bin));

describe("dwf upgrade", () => {
  test("--dry-run reports the installed and the available version and changes nothing", async () => {
    const bin = installedCopy();
    const before = digest(bin);
    // The release server is shared by the file's tests, in any order: look at this run's requests.
    const seen = server.requests.length;
    const r = await run(bin, ["upgrade", "--dry-run"]);
    expect(r.stdout).toContain(`current: dwf ${current}`);
    expect(r.stdout).toContain(`available: dwf ${NEXT}`);
    expect(r.stdout).toContain(`${server.base}/latest/${asset}`);
    expect(r.code).toBe(0);
    expect(digest(bin)).toBe(before);
    expect(server.requests.slice(seen)).not.toContain(`/v${NEXT}/${asset}`);
  }, 60_000);

  test("replaces the binary with the latest release, then finds nothing newer", async () => {
    const bin = installedCopy();
    const r = await run(bin, ["upgrade"]);
    expect(r.stdout).toContain(`dwf upgraded: ${current} -> ${NEXT} (${bin})`);
    expect(r.code).toBe(0);
    expect(versionOf(bin)).toBe(`dwf ${NEXT}`);
    expect(readdirSync(join(bin, ".."))).toEqual(["dwf"]);

    const again = await run(bin, ["upgrade"]);
    expect(again.stdout).toContain(`dwf ${NEXT} is already installed`);
    expect(again.code).toBe(0);
  }, 60_000);

  test("--version picks a release", async () => {
    const bin = installedCopy();
    const r = await run(bin, ["upgrade", "--version", NEXT]);
    expect(r.code).toBe(0);
    expect(versionOf(bin)).toBe(`dwf ${NEXT}`);
    expect(server.requests).toContain(`/v${NEXT}/${asset}`);
  }, 60_000);

  test("a checksum mismatch leaves the binary untouched", async () => {
    const bin = installedCopy();
    const before = digest(bin);
    const r = await run(bin, ["upgrade", "--version", "v8.8.8"]);
    expect(r.code).toBe(1);
    expect(r.all).toContain(`checksum mismatch for ${asset}`);
    expect(r.all).toContain("nothing was changed");
    expect(digest(bin)).toBe(before);
    expect(readdirSync(join(bin, ".."))).toEqual(["dwf"]);
  }, 60_000);

  test("an unknown version is a clear error naming the URL", async () => {
    const bin = installedCopy();
    const r = await run(bin, ["upgrade", "--version", "1.0.0-nope"]);
    expect(r.code).toBe(2);
    expect(r.all).toContain(`release v1.0.0-nope not found: ${server.base}/v1.0.0-nope/SHA256SUMS answered 404`);
    expect(r.all).not.toContain("    at ");
  }, 60_000);

  test("an unreachable download base says so", async () => {
    const bin = installedCopy();
    const r = await run(bin, ["upgrade", "--dry-run"], { DWF_DOWNLOAD_BASE: "http://127.0.0.1:9" });
    expect(r.code).toBe(2);
    expect(r.all).toContain("could not download the latest release from http://127.0.0.1:9/latest/SHA256SUMS");
  }, 60_000);
});

describe("dwf upgrade: never downgrades, never guesses, never hangs", () => {
  let older: ReleaseServer;
  const HANG = "7.7.7";
  beforeAll(() => {
    const old = packArchive(dwfBuiltAs("0.0.1"));
    // A "binary" that never answers --version.
    const hangDir = mkdtempSync(join(tmpdir(), "dwf-hang-"));
    dirs.push(hangDir);
    writeFileSync(join(hangDir, "dwf"), "#!/bin/sh\nsleep 600\n", { mode: 0o755 });
    const hang = packArchive(join(hangDir, "dwf"));
    const next = packArchive(dwfBuiltAs(NEXT));
    older = startReleaseServer(
      {
        "v0.0.1": { [asset]: old, SHA256SUMS: sumsFile({ [asset]: old }) },
        [`v${HANG}`]: { [asset]: hang, SHA256SUMS: sumsFile({ [asset]: hang }) },
        // The right line last, a conflicting one first: "last wins" would install it.
        "v6.6.6": { [asset]: next, SHA256SUMS: `${"e".repeat(64)}  ${asset}\n${sha256(next)} *${asset}\n` },
      },
      "v0.0.1",
    );
  }, 180_000);
  afterAll(() => older?.stop());
  const runOlder = (bin: string, args: string[]) => run(bin, args, { DWF_DOWNLOAD_BASE: older.base });

  test("a latest release older than the installed dwf is not installed without --version", async () => {
    const bin = installedCopy();
    const before = digest(bin);
    const dry = await runOlder(bin, ["upgrade", "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("downgrade with --version 0.0.1");
    const r = await runOlder(bin, ["upgrade"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`dwf ${current} is newer than the latest release (0.0.1); nothing was changed`);
    expect(digest(bin)).toBe(before);
    expect(older.requests).not.toContain(`/v0.0.1/${asset}`);
    // Asked for by name, it is installed.
    const down = await runOlder(bin, ["upgrade", "--version", "0.0.1"]);
    expect(down.code).toBe(0);
    expect(versionOf(bin)).toBe("dwf 0.0.1");
  }, 60_000);

  test("SHA256SUMS listing the asset twice with different checksums is an error", async () => {
    const bin = installedCopy();
    const before = digest(bin);
    const r = await runOlder(bin, ["upgrade", "--version", "6.6.6"]);
    expect(r.code).toBe(1);
    expect(r.all).toContain(`SHA256SUMS lists ${asset} 2 times with different checksums; nothing was changed`);
    expect(digest(bin)).toBe(before);
  }, 60_000);

  test("a downloaded binary that hangs on --version is stopped; a kill -9 leftover is removed by the next upgrade", async () => {
    const bin = installedCopy();
    const before = digest(bin);
    const started = performance.now();
    const r = await runOlder(bin, ["upgrade", "--version", HANG]);
    expect(r.code).toBe(1);
    expect(r.all).toContain("did not answer --version within 10 s");
    expect(performance.now() - started).toBeLessThan(30_000);
    expect(digest(bin)).toBe(before);
    expect(readdirSync(join(bin, ".."))).toEqual(["dwf"]);

    // kill -9 while the probe runs: the staging folder stays behind...
    const proc = Bun.spawn([bin, "upgrade", "--version", HANG], {
      env: cleanEnv({ DWF_DOWNLOAD_BASE: older.base }),
      stdout: "ignore",
      stderr: "ignore",
    });
    const dir = join(bin, "..");
    const deadline = Date.now() + 20_000;
    while (!readdirSync(dir).some((n) => n.startsWith(".dwf-upgrade-")) && Date.now() < deadline) await Bun.sleep(20);
    await Bun.sleep(300);
    proc.kill("SIGKILL");
    await proc.exited;
    const left = readdirSync(dir).filter((n) => n.startsWith(".dwf-upgrade-"));
    expect(left.length).toBe(1);
    // The probe it started is still hanging in there.
    const probes = pidsRunning(join(dir, left[0]!));
    expect(probes.length).toBeGreaterThan(0);
    try {
      // ...and the next upgrade (even one that installs nothing) stops it and removes the folder.
      const next = await runOlder(bin, ["upgrade"]);
      expect(next.code).toBe(0);
      expect(next.all).toContain("left by an interrupted upgrade");
      expect(readdirSync(dir)).toEqual(["dwf"]);
      await Bun.sleep(200);
      expect(pidsRunning(join(dir, left[0]!))).toEqual([]);
    } finally {
      // The test's own cleanup, should the upgrade not have done it: the probe leads its group.
      for (const pid of probes) {
        try {
          process.kill(-pid, "SIGKILL");
        } catch {}
      }
    }
  }, 90_000);
});
