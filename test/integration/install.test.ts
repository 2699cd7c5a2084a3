// install.sh end to end: a release host on 127.0.0.1 serves a freshly built dwf, and the
// script (piped or as a file, via curl or wget) installs it — or refuses and changes nothing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, dwfBinary, which } from "../support/dwf.ts";
import {
  currentVersion,
  dwfBuiltAs,
  nativeAsset,
  packArchive,
  sha256,
  sumsFile,
  startReleaseServer,
  type ReleaseServer,
} from "../support/release-server.ts";

const INSTALL_SH = join(ROOT, "install.sh");
const dirs: string[] = [];
let server: ReleaseServer;
let version: string;
let asset: string;

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "dwf-install-"));
  dirs.push(d);
  return d;
}

beforeAll(() => {
  version = currentVersion();
  asset = nativeAsset();
  const archive = packArchive(dwfBinary());
  const mislabelled = packArchive(dwfBuiltAs("9.9.9"));
  // Stands in for the arm64 build: this machine's binary, reporting the release's version.
  const arm = packArchive(dwfBuiltAs("7.7.9"));
  const good = { [asset]: archive, SHA256SUMS: sumsFile({ [asset]: archive }) };
  server = startReleaseServer(
    {
      [`v${version}`]: good,
      "v7.7.7": { [asset]: archive, SHA256SUMS: `${"0".repeat(64)}  ${asset}\n` },
      "v7.7.8": { [asset]: archive, SHA256SUMS: sumsFile({ "dwf-other-os.tar.gz": archive }) },
      "v7.7.9": { "dwf-linux-arm64.tar.gz": arm, SHA256SUMS: sumsFile({ "dwf-linux-arm64.tar.gz": arm }) },
      // The right line first, a conflicting one after: once resolved by "first wins" here and "last wins" by upgrade.
      "v6.6.6": { [asset]: archive, SHA256SUMS: `${sha256(archive)}  ${asset}\n${"e".repeat(64)} *${asset}\n` },
      "v6.6.7": { [asset]: archive, SHA256SUMS: `${sha256(archive)}  ${asset}\r\n${sha256(archive).toUpperCase()} *${asset}\r\n` },
      "v0.5.0": { [asset]: mislabelled, SHA256SUMS: sumsFile({ [asset]: mislabelled }) },
    },
    `v${version}`,
  );
}, 180_000); // builds two more versions of dwf

afterAll(() => {
  server?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A PATH holding only the tools install.sh may use, minus `without`, plus fakes. */
function toolPath(opts: { without?: string[]; fakes?: Record<string, string> } = {}): string {
  const bin = tempDir();
  const tools = [
    "sh",
    "uname",
    "mktemp",
    "curl",
    "wget",
    "awk",
    "sha256sum",
    "shasum",
    "cut",
    "tar",
    "gzip",
    "mkdir",
    "cp",
    "chmod",
    "mv",
    "rm",
    "sed",
    "head",
    "tail",
    "grep",
    "cat",
    "dirname",
    "pwd",
    "timeout",
    "sleep",
  ];
  for (const t of tools) {
    if (opts.without?.includes(t)) continue;
    const real = which(t);
    if (real) symlinkSync(real, join(bin, t));
  }
  for (const [name, script] of Object.entries(opts.fakes ?? {})) {
    rmSync(join(bin, name), { force: true });
    writeFileSync(join(bin, name), script);
    chmodSync(join(bin, name), 0o755);
  }
  return bin;
}

async function install(env: Record<string, string>, opts: { piped?: boolean; args?: string[]; cwd?: string; script?: string } = {}) {
  const sh = which("sh")!;
  const argv = opts.piped ? [sh, "-s", "--", ...(opts.args ?? [])] : [sh, opts.script ?? INSTALL_SH, ...(opts.args ?? [])];
  const proc = Bun.spawn(argv, {
    cwd: opts.cwd ?? tempDir(),
    env: { HOME: tempDir(), PATH: toolPath(), ...env },
    stdin: opts.piped ? Bun.file(INSTALL_SH) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, all: stdout + stderr };
}

function runInstalled(path: string): string {
  const r = Bun.spawnSync([path, "--version"], { stdout: "pipe", stderr: "pipe" });
  return r.stdout.toString().trim();
}

describe("install.sh", () => {
  test("piped into sh, installs the latest release and says how to put it on PATH", async () => {
    const dir = join(tempDir(), "bin");
    const r = await install({ DWF_DOWNLOAD_BASE: server.base, DWF_INSTALL_DIR: dir }, { piped: true });
    expect(r.all).toContain(`installed dwf ${version} to ${dir}/dwf`);
    expect(r.code).toBe(0);
    expect(r.all).toContain(`export PATH="${dir}:$PATH"`);
    expect(runInstalled(join(dir, "dwf"))).toBe(`dwf ${version}`);
    expect(server.requests).toContain(`/v${version}/${asset}`);
    expect(readdirSync(dir)).toEqual(["dwf"]);
  }, 60_000);

  test("DWF_VERSION picks a release; defaults to ~/.local/bin; replaces an older binary; no PATH hint when on PATH", async () => {
    const home = tempDir();
    const dir = join(home, ".local/bin");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "dwf"), "#!/bin/sh\necho 'dwf 0.0.1'\n", { mode: 0o755 });
    const r = await install({ DWF_DOWNLOAD_BASE: `${server.base}/`, DWF_VERSION: version, HOME: home, PATH: `${dir}:${toolPath()}` });
    expect(r.all).toContain(`installed dwf ${version}`);
    expect(r.code).toBe(0);
    expect(r.all).not.toContain("is not on your PATH");
    expect(runInstalled(join(dir, "dwf"))).toBe(`dwf ${version}`);
  }, 60_000);

  test("downloads with wget when curl is missing", async () => {
    const dir = tempDir();
    const r = await install({
      DWF_DOWNLOAD_BASE: server.base,
      DWF_INSTALL_DIR: dir,
      DWF_VERSION: `v${version}`,
      PATH: toolPath({ without: ["curl"] }),
    });
    expect(r.all).toContain(`installed dwf ${version}`);
    expect(r.code).toBe(0);
    expect(runInstalled(join(dir, "dwf"))).toBe(`dwf ${version}`);
  }, 60_000);

  for (const tool of ["curl", "wget"]) {
    test(`a tampered checksum (via ${tool}) installs nothing and leaves the old binary intact`, async () => {
      const dir = tempDir();
      const old = "#!/bin/sh\necho 'dwf 0.0.1'\n";
      writeFileSync(join(dir, "dwf"), old, { mode: 0o755 });
      const r = await install({
        DWF_DOWNLOAD_BASE: server.base,
        DWF_INSTALL_DIR: dir,
        DWF_VERSION: "7.7.7",
        PATH: toolPath({ without: [tool === "curl" ? "wget" : "curl"] }),
      });
      expect(r.code).not.toBe(0);
      expect(r.all).toContain(`checksum mismatch for ${asset}`);
      expect(r.all).toContain("Nothing was installed");
      expect(readFileSync(join(dir, "dwf"), "utf8")).toBe(old);
      expect(readdirSync(dir)).toEqual(["dwf"]);
    }, 60_000);
  }

  test("a SHA256SUMS without this platform's entry installs nothing", async () => {
    const dir = join(tempDir(), "bin");
    const r = await install({ DWF_DOWNLOAD_BASE: server.base, DWF_INSTALL_DIR: dir, DWF_VERSION: "7.7.8" });
    expect(r.code).not.toBe(0);
    expect(r.all).toContain(`SHA256SUMS of v7.7.8 has no entry for ${asset}`);
    expect(existsSync(dir)).toBe(false);
  }, 60_000);

  for (const tool of ["curl", "wget"]) {
    test(`SHA256SUMS listing the asset twice with different checksums installs nothing (via ${tool})`, async () => {
      const dir = join(tempDir(), "bin");
      const r = await install({
        DWF_DOWNLOAD_BASE: server.base,
        DWF_INSTALL_DIR: dir,
        DWF_VERSION: "6.6.6",
        PATH: toolPath({ without: [tool === "curl" ? "wget" : "curl"] }),
      });
      expect(r.code).not.toBe(0);
      expect(r.all).toContain(`SHA256SUMS of v6.6.6 lists ${asset} more than once with different checksums`);
      expect(existsSync(dir)).toBe(false);
    }, 60_000);

    test(`a release whose binary reports another version installs nothing (via ${tool})`, async () => {
      const dir = tempDir();
      const old = "#!/bin/sh\necho 'dwf 0.0.1'\n";
      writeFileSync(join(dir, "dwf"), old, { mode: 0o755 });
      const r = await install({
        DWF_DOWNLOAD_BASE: server.base,
        DWF_INSTALL_DIR: dir,
        DWF_VERSION: "0.5.0",
        PATH: toolPath({ without: [tool === "curl" ? "wget" : "curl"] }),
      });
      expect(r.code).not.toBe(0);
      expect(r.all).toContain("release v0.5.0 holds a dwf that reports 'dwf 9.9.9'");
      expect(readFileSync(join(dir, "dwf"), "utf8")).toBe(old);
      expect(readdirSync(dir)).toEqual(["dwf"]);
    }, 60_000);
  }

  test("the same digest listed twice (any case, CRLF, with '*') is not ambiguous", async () => {
    const dir = tempDir();
    const r = await install({ DWF_DOWNLOAD_BASE: server.base, DWF_INSTALL_DIR: dir, DWF_VERSION: "6.6.7" });
    // The archive is this build, which reports its own version, not 6.6.7: the digest check passed.
    expect(r.all).toContain("release v6.6.7 holds a dwf that reports");
    expect(r.all).not.toContain("more than once");
  }, 60_000);

  for (const tool of ["curl", "wget"]) {
    test(`an unknown version (via ${tool}) is a clear error`, async () => {
      const dir = join(tempDir(), "bin");
      const r = await install({
        DWF_DOWNLOAD_BASE: server.base,
        DWF_INSTALL_DIR: dir,
        DWF_VERSION: "9.9.9",
        PATH: toolPath({ without: [tool === "curl" ? "wget" : "curl"] }),
      });
      expect(r.code).not.toBe(0);
      expect(r.all).toContain(`not found: ${server.base}/v9.9.9/SHA256SUMS (HTTP 404)`);
      expect(r.all).toContain("DWF_DOWNLOAD_BASE");
      expect(existsSync(dir)).toBe(false);
    }, 60_000);
  }

  test("an unsupported platform names what it found and what is supported", async () => {
    const uname = `#!/bin/sh\ncase "$1" in -s) echo FreeBSD ;; -m) echo amd64 ;; esac\n`;
    const r = await install({ DWF_DOWNLOAD_BASE: server.base, DWF_INSTALL_DIR: tempDir(), PATH: toolPath({ fakes: { uname } }) });
    expect(r.code).not.toBe(0);
    expect(r.all).toContain("uname -s: FreeBSD, uname -m: amd64");
    expect(r.all).toContain("linux-x64, linux-arm64, darwin-x64, darwin-arm64");
    expect(server.requests.some((p) => p.includes("FreeBSD"))).toBe(false);
  }, 60_000);

  test("an aarch64 Linux machine gets the linux-arm64 archive", async () => {
    const uname = `#!/bin/sh\ncase "$1" in -s) echo Linux ;; -m) echo aarch64 ;; esac\n`;
    const dir = tempDir();
    const r = await install({
      DWF_DOWNLOAD_BASE: server.base,
      DWF_INSTALL_DIR: dir,
      DWF_VERSION: "7.7.9",
      PATH: toolPath({ fakes: { uname } }),
    });
    // The archive holds this machine's binary, so it runs: what matters is which file was fetched.
    expect(r.all).toContain("installed dwf 7.7.9");
    expect(r.code).toBe(0);
    expect(server.requests).toContain("/v7.7.9/dwf-linux-arm64.tar.gz");
  }, 60_000);

  test("without a repository or download base it says what to set", async () => {
    const r = await install({ DWF_INSTALL_DIR: tempDir() }, { piped: true });
    expect(r.code).not.toBe(0);
    expect(r.all).toContain("DWF_REPO=owner/name");
  }, 60_000);
});

describe("install.sh --from-source", () => {
  /** A copy of the checkout, so the build does not race other tests over dist/dwf. */
  function checkoutCopy(): string {
    const src = tempDir();
    for (const f of readdirSync(ROOT)) {
      if (f === "node_modules" || f === "dist" || f === ".git") continue;
      cpSync(join(ROOT, f), join(src, f), { recursive: true });
    }
    return src;
  }
  // bun's package cache of the real user, so `bun install` needs no network when warm.
  const cache = process.env.BUN_INSTALL_CACHE_DIR ?? join(homedir(), ".bun/install/cache");

  test("builds a checkout with bun and installs the binary it built", async () => {
    const src = checkoutCopy();
    const dir = tempDir();
    const bunDir = join(which("bun")!, "..");
    const r = await install(
      { DWF_INSTALL_DIR: dir, PATH: `${toolPath()}:${bunDir}`, BUN_INSTALL_CACHE_DIR: cache },
      { args: ["--from-source"], cwd: tempDir(), script: join(src, "install.sh") },
    );
    expect(r.all).toContain(`installed dwf ${version} to ${dir}/dwf`);
    expect(r.code).toBe(0);
    expect(runInstalled(join(dir, "dwf"))).toBe(`dwf ${version}`);
  }, 120_000);

  test("without bun on PATH it gets bun through the checkout's npm install, writing nothing outside the checkout", async () => {
    const src = checkoutCopy();
    const dir = tempDir();
    // Stands in for `npm install` in the checkout: links this machine's bun where npm would put it.
    const npm = `#!/bin/sh\n[ "$*" = install ] || exit 1\nmkdir -p node_modules/.bin && ${which("ln")} -s "${which("bun")}" node_modules/.bin/bun\n`;
    const r = await install(
      { DWF_INSTALL_DIR: dir, PATH: toolPath({ fakes: { npm } }), BUN_INSTALL_CACHE_DIR: cache },
      { args: ["--from-source"], cwd: src, piped: true },
    );
    expect(r.all).toContain("installing the checkout's dependencies (bun among them) with: npm install");
    expect(r.all).toContain(`using bun from ${src}/node_modules/.bin`);
    expect(r.all).toContain(`installed dwf ${version} to ${dir}/dwf`);
    expect(r.code).toBe(0);
  }, 120_000);
});
