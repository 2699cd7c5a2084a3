// The flow of `dwf upgrade`: pick the asset for this machine, read the release's
// SHA256SUMS, download and verify the archive, prove the new binary runs, swap it in.
import { FailedError } from "../core/errors.ts";
import { log } from "../report/log.ts";
import { checkDigest, parseSha256Sums, sha256Hex } from "./checksums.ts";
import { fetchBytes } from "./download.ts";
import { assetName, thisPlatform } from "./platform.ts";
import { installedBinary, probeVersion, stageBinary, swapInto } from "./replace.ts";
import { assetUrl, releasesPage, releaseTag, versionFromUrl } from "./urls.ts";

export interface UpgradeOptions {
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
  const hint = o.base ? `DWF_DOWNLOAD_BASE is ${o.base}; check that it holds ${tag}/SHA256SUMS.` : `Releases are listed at ${releasesPage(o.repository)}.`;
  const target = o.dryRun ? process.execPath : installedBinary();

  const sumsFile = await fetchBytes(url("SHA256SUMS"), tag === "latest" ? "the latest release" : `release ${tag}`, hint);
  const available = tag === "latest" ? versionFromUrl(sumsFile.url) : tag.slice(1);
  const sums = parseSha256Sums(new TextDecoder().decode(sumsFile.data));
  if (!sums.has(asset)) throw new FailedError(`release ${available ? `v${available}` : tag} has no ${asset} in its SHA256SUMS; nothing was changed.`);

  if (o.dryRun) {
    o.out(`current: dwf ${o.current}\n`);
    o.out(`available: ${available ? `dwf ${available}` : "latest (the download base does not say which version)"}\n`);
    o.out(`asset: ${url(asset)}\n`);
    o.out(available === o.current ? "dwf is up to date.\n" : "Run 'dwf upgrade' without --dry-run to install it.\n");
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
  const interrupted = () => {
    staged.cleanup();
    process.exit(130);
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    const got = probeVersion(staged.binary);
    if (available && got !== available) throw new FailedError(`release v${available} holds a dwf that reports version ${got}; nothing was changed.`);
    swapInto(staged.binary, target);
    o.out(`dwf upgraded: ${o.current} -> ${got} (${target})\n`);
    return 0;
  } finally {
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
    staged.cleanup();
  }
}
