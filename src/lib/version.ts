// Version and release repository, both derived from package.json (the one place the
// repository is named). A release build overrides the version with the tag via --define.
import pkg from "../../package.json" with { type: "json" };

declare const DWF_BUILD_VERSION: string | undefined;
declare const DWF_BUILD_ID: string | undefined;

/** Unique per compiled build (scripts/build.ts); undefined when running from source. */
export const BUILD_ID: string | undefined = typeof DWF_BUILD_ID === "string" ? DWF_BUILD_ID : undefined;

export const VERSION: string = typeof DWF_BUILD_VERSION === "string" && DWF_BUILD_VERSION ? DWF_BUILD_VERSION : pkg.version;

/** `owner/name` of the GitHub repository releases come from (worked out when first asked). */
export function repository(): string {
  return repoSlug(typeof pkg.repository === "string" ? pkg.repository : pkg.repository.url);
}

function repoSlug(url: string): string {
  const m = /github\.com[/:]([^/]+\/[^/]+?)(?:\.git)?\/?$/.exec(url) ?? /^(?:github:)?([^/:]+\/[^/]+)$/.exec(url);
  if (!m) throw new Error(`package.json repository '${url}' is not a GitHub repository`);
  return m[1]!;
}
