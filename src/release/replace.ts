// Local edge of `dwf upgrade`: unpack the archive next to the binary it replaces, prove
// the new binary runs, then rename it over the old one. Until that rename nothing the
// user has is touched; any failure removes the staging directory and leaves the old binary.
import {
  accessSync,
  constants,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  chmodSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { FailedError, UserError } from "../lib/errors.ts";
import { CallError, callBounded } from "../lib/process.ts";
import { pidExists } from "../lib/pid.ts";

/** The staged binary must answer --version within this (it takes milliseconds). */
const PROBE_TIMEOUT_MS = 10_000;
/** A staging folder of an upgrade that is not running any more (kill -9, power loss) is removed after this. */
const STALE_STAGING_MS = 60 * 60_000;

/** The file a compiled dwf runs from; refuses when dwf runs from source under bun. */
export function installedBinary(): string {
  const mainPath = Bun.main;
  if (!mainPath.startsWith("/$bunfs/") && !/^[A-Z]:\\~BUN\\/.test(mainPath)) {
    throw new UserError(
      `'dwf upgrade' replaces the compiled dwf binary, but this dwf runs from source (${mainPath}).`,
      "Update the checkout and run 'sh install.sh --from-source' instead.",
    );
  }
  const path = realpathSync(process.execPath);
  try {
    accessSync(dirname(path), constants.W_OK);
  } catch {
    throw new UserError(
      `cannot replace ${path}: its directory is not writable.`,
      `Re-run with the permissions that installed it (e.g. sudo), or reinstall into a directory you own with DWF_INSTALL_DIR.`,
    );
  }
  return path;
}

const stagingPrefix = (target: string) => `.${basename(target)}-upgrade-`;

/**
 * Remove what an upgrade killed before it could clean up left beside `target`: staging
 * folders `.dwf-upgrade-<pid>-*` whose upgrade process is gone (or that are over an hour old).
 */
export function removeStaleStaging(target: string, now = Date.now()): string[] {
  const dir = dirname(target);
  const prefix = stagingPrefix(target);
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const path = join(dir, name);
    let st;
    try {
      st = lstatSync(path);
    } catch {
      continue;
    }
    if (!st.isDirectory()) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    if (pid === process.pid) continue;
    const running = Number.isInteger(pid) && pid > 0 && pidExists(pid);
    if (running && now - st.mtimeMs < STALE_STAGING_MS) continue;
    // The killed upgrade's probe may still be running from there (a binary that hangs).
    stopProcessesRunningFrom(path);
    rmSync(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

/** Linux: kill (with its process group) every process whose executable or argv[0] lies in `dir`. */
function stopProcessesRunningFrom(dir: string): void {
  if (process.platform !== "linux") return;
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return;
  }
  const inside = (p: string) => p.startsWith(`${dir}/`);
  for (const name of names) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let hit = false;
    try {
      hit = inside(readlinkSync(`/proc/${name}/exe`));
    } catch {}
    if (!hit) {
      try {
        const argv = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
        hit = argv.slice(0, 2).some(inside);
      } catch {}
    }
    if (!hit) continue;
    for (const target of [-Number(name), Number(name)]) {
      try {
        process.kill(target, "SIGKILL");
      } catch {}
    }
  }
}

/** Unpack `dwf` from a .tar.gz into a staging dir beside `target`; returns the new binary's path. */
export async function stageBinary(archive: Uint8Array, target: string): Promise<{ binary: string; cleanup: () => void }> {
  // The pid in the name tells a later upgrade whether this one is still running.
  const staging = mkdtempSync(join(dirname(target), `${stagingPrefix(target)}${process.pid}-`));
  const cleanup = () => rmSync(staging, { recursive: true, force: true });
  try {
    const tar = Bun.spawn(["tar", "-xzf", "-", "-C", staging, "dwf"], { stdin: archive, stdout: "ignore", stderr: "pipe" });
    const timer = setTimeout(() => tar.kill("SIGKILL"), 120_000);
    const [err, code] = await Promise.all([new Response(tar.stderr).text(), tar.exited]);
    clearTimeout(timer);
    if (code !== 0) throw new FailedError(`the downloaded archive could not be unpacked: ${err.trim() || `tar exited ${code}`}`);
    const binary = join(staging, "dwf");
    if (!lstatSync(binary).isFile()) throw new FailedError("the downloaded archive holds no regular file 'dwf'.");
    chmodSync(binary, 0o755);
    return { binary, cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}

/** Run the staged binary's `--version` (bounded in time and output); the version it prints, or a failure. */
export async function probeVersion(binary: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<string> {
  let r;
  try {
    r = await callBounded([binary, "--version"], {
      cwd: dirname(binary),
      timeoutMs,
      maxBytes: 64 * 1024,
      env: { ...process.env, NO_COLOR: "1" },
    });
  } catch (e) {
    if (e instanceof CallError)
      throw new FailedError(`the downloaded dwf ${e.message.replace(/^did not answer/, "did not answer --version")}; nothing was changed.`);
    throw e;
  }
  const out = r.stdout.trim();
  const m = /^dwf (\S+)$/.exec(out);
  if (r.exitCode !== 0 || r.signal || !m)
    throw new FailedError(
      `the downloaded dwf does not run here: ${(r.stderr || out || (r.signal ? `killed by ${r.signal}` : `exit ${r.exitCode}`)).trim().slice(0, 300)}`,
    );
  return m[1]!;
}

/** Atomic on one file system: readers see the old binary or the new one, never half of either. */
export function swapInto(binary: string, target: string): void {
  renameSync(binary, target);
}
