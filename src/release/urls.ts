// The download layout shared by install.sh, `dwf upgrade` and the tests:
//   <base>/v<version>/<asset>   one release        <base>/latest/<asset>   the newest one
// The default base is the repository's GitHub releases, whose "latest" URL is spelled
// differently; DWF_DOWNLOAD_BASE points at a mirror laid out as above.

function defaultBase(repository: string): string {
  return `https://github.com/${repository}/releases/download`;
}

/** `1.2.3`, `v1.2.3` → `v1.2.3`; `latest`/empty → `latest`. */
export function releaseTag(version: string | undefined): string {
  const v = (version ?? "").trim();
  if (v === "" || v === "latest") return "latest";
  return v.startsWith("v") ? v : `v${v}`;
}

export function assetUrl(opts: { base?: string; repository: string; tag: string; asset: string }): string {
  const base = (opts.base || defaultBase(opts.repository)).replace(/\/+$/, "");
  if (opts.tag === "latest" && !opts.base) return `https://github.com/${opts.repository}/releases/latest/download/${opts.asset}`;
  return `${base}/${opts.tag}/${opts.asset}`;
}

/** The version a "latest" URL redirected to (`…/v1.2.3/SHA256SUMS` → `1.2.3`), if it did. */
export function versionFromUrl(url: string): string | undefined {
  const m = /\/v([0-9][^/]*)\/[^/]+$/.exec(url);
  return m?.[1];
}

export function releasesPage(repository: string): string {
  return `https://github.com/${repository}/releases`;
}
