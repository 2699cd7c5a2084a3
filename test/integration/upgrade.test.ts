// `dwf upgrade` against a release host on 127.0.0.1: a copy of the freshly built dwf
// replaces itself with a newer build, or refuses and stays byte-for-byte the same.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanEnv, dwfBinary } from "../support/dwf.ts";
import { currentVersion, dwfBuiltAs, nativeAsset, packArchive, sha256, startReleaseServer, sumsFile, type ReleaseServer } from "../support/release-server.ts";

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
});

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

const versionOf = (bin: string) => Bun.spawnSync([bin, "--version"], { stdout: "pipe" }).stdout.toString().trim();
const digest = (bin: string) => sha256(readFileSync(bin));

describe("dwf upgrade", () => {
  test("--dry-run reports the installed and the available version and changes nothing", async () => {
    const bin = installedCopy();
    const before = digest(bin);
    const r = await run(bin, ["upgrade", "--dry-run"]);
    expect(r.stdout).toContain(`current: dwf ${current}`);
    expect(r.stdout).toContain(`available: dwf ${NEXT}`);
    expect(r.stdout).toContain(`${server.base}/latest/${asset}`);
    expect(r.code).toBe(0);
    expect(digest(bin)).toBe(before);
    expect(server.requests).not.toContain(`/v${NEXT}/${asset}`);
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
