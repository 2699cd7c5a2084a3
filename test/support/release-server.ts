// Test support for install.sh and `dwf upgrade`: a release download host on 127.0.0.1
// laid out like DWF_DOWNLOAD_BASE (<base>/v<version>/<asset>, <base>/latest/* redirecting
// to the newest tag), and real binaries packed as release archives.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, dwfBinary } from "./dwf.ts";
import { assetName, thisPlatform } from "../../src/release/platform.ts";

export type ReleaseFiles = Record<string, Uint8Array | string>;

export interface ReleaseServer {
  base: string;
  /** Paths asked for, in order, e.g. "/v1.2.3/SHA256SUMS". */
  requests: string[];
  stop(): void;
}

/** Serve `releases` (tag → file name → content); `latest` names the tag /latest/ redirects to. */
export function startReleaseServer(releases: Record<string, ReleaseFiles>, latest?: string): ReleaseServer {
  const requests: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      requests.push(path);
      const [, tag, name] = /^\/([^/]+)\/([^/]+)$/.exec(path) ?? [];
      if (tag === "latest" && latest) return Response.redirect(`/${latest}/${name}`, 302);
      const body = tag && name ? releases[tag]?.[name] : undefined;
      if (body === undefined) return new Response("not found\n", { status: 404 });
      return new Response(body, { headers: { "content-type": "application/octet-stream" } });
    },
  });
  return { base: `http://127.0.0.1:${server.port}`, requests, stop: () => server.stop(true) };
}

export function sha256(data: Uint8Array | string): string {
  return new Bun.CryptoHasher("sha256").update(data).digest("hex");
}

export function sumsFile(entries: Record<string, Uint8Array>): string {
  return Object.entries(entries)
    .map(([name, data]) => `${sha256(data)}  ${name}\n`)
    .join("");
}

/** A .tar.gz holding one file `dwf` (the binary at `path`), as the release packs it. */
export function packArchive(path: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "dwf-pack-"));
  try {
    const copy = Bun.spawnSync(["cp", path, join(dir, "dwf")]);
    if (copy.exitCode !== 0) throw new Error(`cp failed: ${copy.stderr.toString()}`);
    const tar = Bun.spawnSync(["tar", "-C", dir, "-cf", "-", "dwf"], { stdout: "pipe", stderr: "pipe", maxBuffer: 1 << 30 });
    if (tar.exitCode !== 0) throw new Error(`tar failed: ${tar.stderr.toString()}`);
    return Bun.gzipSync(tar.stdout as Uint8Array<ArrayBuffer>, { level: 1 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const versioned = new Map<string, string>();
const buildDirs: string[] = [];

/** The current sources built as `dwf <version>` (once per version per process). */
export function dwfBuiltAs(version: string): string {
  const known = versioned.get(version);
  if (known) return known;
  const dir = mkdtempSync(join(tmpdir(), "dwf-build-"));
  buildDirs.push(dir);
  const out = join(dir, "dwf");
  const r = Bun.spawnSync([process.execPath, "run", join(ROOT, "scripts/build.ts"), "--version", version, "--outfile", out], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (r.exitCode !== 0) throw new Error(`building dwf ${version} failed:\n${r.stderr.toString()}`);
  versioned.set(version, out);
  return out;
}

process.on("exit", () => {
  for (const d of buildDirs) rmSync(d, { recursive: true, force: true });
});

/** The version the test binary (dist/dwf) reports. */
export function currentVersion(): string {
  const out = Bun.spawnSync([dwfBinary(), "--version"], { stdout: "pipe" }).stdout.toString().trim();
  return out.replace(/^dwf /, "");
}

/** Which release asset this test machine's binary would be published as. */
export function nativeAsset(): string {
  return assetName(thisPlatform());
}
