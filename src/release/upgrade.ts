// The flow of `dwf upgrade`: pick the asset for this machine, read the release's
// SHA256SUMS, download and verify the archive, prove the new binary runs, swap it in.
import { FailedError, signalExit } from "../lib/errors.ts";
import { log } from "../lib/log.ts";
import { checkDigest, sha256Hex, sumsEntry } from "./checksums.ts";
import { fetchBytes } from "./download.ts";
import { assetName, thisPlatform } from "./platform.ts";
import { installedBinary, probeVersion, removeStaleStaging, stageBinary, swapInto } from "./replace.ts";
import { assetUrl, releasesPage, releaseTag, versionFromUrl } from "./urls.ts";

interface UpgradeOptions {
  current: string;
  repository: string;
  /** Wanted version (`1.2.3`, `v1.2.3`) or undefined for the latest release. */
  version?: string;
  base?: string;
  dryRun: boolean;
  force: boolean;
  out: (line: string) => void;
}

export async function upgrade(o: UpgradeOptions): Promise<number> {
  const platform = thisPlatform();
  const asset = assetName(platform);
  const tag = releaseTag(o.version);
  const url = (name: string) => assetUrl({ base: o.base, repository: o.repository, tag, asset: name });
  const hint = o.base
    ? `DWF_DOWNLOAD_BASE is ${o.base}; check that it holds ${tag}/SHA256SUMS.`
    : `Releases are listed at ${releasesPage(o.repository)}.`;
  const target = o.dryRun ? process.execPath : installedBinary();
  // An upgrade killed earlier (kill -9, power loss) may have left its staging folder here.
  if (!o.dryRun) for (const p of removeStaleStaging(target)) log.info(`removed ${p}, left by an interrupted upgrade`);

  const sumsFile = await fetchBytes(url("SHA256SUMS"), tag === "latest" ? "the latest release" : `release ${tag}`, hint);
  const available = tag === "latest" ? versionFromUrl(sumsFile.url) : tag.slice(1);
  const sums = new TextDecoder().decode(sumsFile.data);
  const entry = sumsEntry(sums, asset);
  if (!entry.ok) throw new FailedError(`release ${available ? `v${available}` : tag}: ${entry.reason}; nothing was changed.`);
  // "latest" never means "older than what you have": a downgrade takes --version.
  const older = o.version === undefined && available !== undefined && compareVersions(available, o.current) < 0;

  if (o.dryRun) {
    o.out(`current: dwf ${o.current}\n`);
    o.out(`available: ${available ? `dwf ${available}` : "latest (the download base does not say which version)"}\n`);
    o.out(`asset: ${url(asset)}\n`);
    o.out(
      available === o.current
        ? "dwf is up to date.\n"
        : older
          ? `The latest release is older than this dwf; 'dwf upgrade' keeps ${o.current} (downgrade with --version ${available}).\n`
          : "Run 'dwf upgrade' without --dry-run to install it.\n",
    );
    return 0;
  }
  if (older) {
    o.out(
      `dwf ${o.current} is newer than the latest release (${available}); nothing was changed. To downgrade, run: dwf upgrade --version ${available}\n`,
    );
    return 0;
  }

  if (available === o.current && !o.force) {
    o.out(`dwf ${o.current} is already installed (${target}); --force reinstalls it.\n`);
    return 0;
  }

  log.info(`downloading ${url(asset)}`);
  const archive = await fetchBytes(url(asset), asset, hint);
  const verdict = checkDigest(sums, asset, sha256Hex(archive.data));
  if (!verdict.ok) throw new FailedError(`${verdict.reason}; nothing was changed.`);

  const staged = await stageBinary(archive.data, target);
  // Ctrl-C between staging and swap must not leave a 100 MB hidden directory behind.
  const interrupted = (sig: NodeJS.Signals) => {
    staged.cleanup();
    process.exit(signalExit(sig));
  };
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const sig of signals) process.once(sig, interrupted);
  try {
    const got = await probeVersion(staged.binary);
    if (available && got !== available)
      throw new FailedError(`release v${available} holds a dwf that reports version ${got}; nothing was changed.`);
    // A download base that does not say which version "latest" is: judge by the binary itself.
    if (!available && o.version === undefined && compareVersions(got, o.current) < 0) {
      o.out(
        `dwf ${o.current} is newer than the latest release (${got}); nothing was changed. To downgrade, run: dwf upgrade --version ${got}\n`,
      );
      return 0;
    }
    swapInto(staged.binary, target);
    o.out(`dwf upgraded: ${o.current} -> ${got} (${target})\n`);
    return 0;
  } finally {
    for (const sig of signals) process.off(sig, interrupted);
    staged.cleanup();
  }
}

/** Order of two versions, semver style: numeric fields, and a pre-release (`1.2.0-rc.1`) before its release. */
export function compareVersions(a: string, b: string): number {
  const split = (v: string) => {
    const [core = "", pre] = v.replace(/^v/, "").split("+")[0]!.split(/-(.*)/s);
    return { core: core.split(".").map((n) => Number(n) || 0), pre };
  };
  const x = split(a);
  const y = split(b);
  for (let i = 0; i < Math.max(x.core.length, y.core.length); i++) {
    const d = (x.core[i] ?? 0) - (y.core[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  if (x.pre === y.pre) return 0;
  if (x.pre === undefined) return 1;
  if (y.pre === undefined) return -1;
  const px = x.pre.split(".");
  const py = y.pre.split(".");
  for (let i = 0; i < Math.max(px.length, py.length); i++) {
    const p = px[i];
    const q = py[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    if (p === q) continue;
    const np = /^\d+$/.test(p) ? Number(p) : NaN;
    const nq = /^\d+$/.test(q) ? Number(q) : NaN;
    if (!Number.isNaN(np) && !Number.isNaN(nq)) return Math.sign(np - nq);
    return p < q ? -1 : 1;
  }
  return 0;
}
