// Local edge of `dwf upgrade`: unpack the archive next to the binary it replaces, prove
// the new binary runs, then rename it over the old one. Until that rename nothing the
// user has is touched; any failure removes the staging directory and leaves the old binary.
import { accessSync, constants, lstatSync, mkdtempSync, realpathSync, renameSync, rmSync, chmodSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { FailedError, UserError } from "../core/errors.ts";

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
    throw new UserError(`cannot replace ${path}: its directory is not writable.`, `Re-run with the permissions that installed it (e.g. sudo), or reinstall into a directory you own with DWF_INSTALL_DIR.`);
  }
  return path;
}

/** Unpack `dwf` from a .tar.gz into a staging dir beside `target`; returns the new binary's path. */
export async function stageBinary(archive: Uint8Array, target: string): Promise<{ binary: string; cleanup: () => void }> {
  const staging = mkdtempSync(join(dirname(target), `.${basename(target)}-upgrade-`));
  const cleanup = () => rmSync(staging, { recursive: true, force: true });
  try {
    const tar = Bun.spawn(["tar", "-xzf", "-", "-C", staging, "dwf"], { stdin: archive, stdout: "ignore", stderr: "pipe" });
    const [err, code] = await Promise.all([new Response(tar.stderr).text(), tar.exited]);
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

/** Run the staged binary's `--version`; the version it prints, or a failure. */
export function probeVersion(binary: string): string {
  const r = Bun.spawnSync([binary, "--version"], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const out = r.stdout.toString().trim();
  const m = /^dwf (\S+)$/.exec(out);
  if (r.exitCode !== 0 || !m) throw new FailedError(`the downloaded dwf does not run here: ${(r.stderr.toString() || out).trim().slice(0, 300)}`);
  return m[1]!;
}

/** Atomic on one file system: readers see the old binary or the new one, never half of either. */
export function swapInto(binary: string, target: string): void {
  renameSync(binary, target);
}
