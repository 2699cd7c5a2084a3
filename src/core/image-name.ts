// Image names as registries accept them: dwf tags `<name>:<fingerprint>` itself, and
// repository paths must be lower case. Checked when devflow.toml is loaded, so every
// command (not only CI generation) fails early with the corrected name.
import { UserError } from "../lib/errors.ts";

const PATH = /^[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*$/;

/** The registry host an image name starts with, if any (docker's rule: a first path part with a '.', a ':port' or localhost). */
export function imageHost(image: string): string | null {
  const slash = image.indexOf("/");
  return slash >= 0 && /[.:]|^localhost$/.test(image.slice(0, slash)) ? image.slice(0, slash) : null;
}

/** Split off the registry host (with its '/') from the repository path. */
function splitHost(image: string): [host: string, path: string] {
  const host = imageHost(image);
  return host === null ? ["", image] : [image.slice(0, host.length + 1), image.slice(host.length + 1)];
}

export function checkImageName(image: string, where: string): string {
  const [host, path] = splitHost(image);
  const fixed = host + path.replace(/[:@].*$/, "").toLowerCase();
  if (/[:@]/.test(path)) {
    throw new UserError(
      `${where} = '${image}' includes a tag or digest; dwf tags the image with the fingerprint itself.`,
      `Use '${fixed}'.`,
    );
  }
  if (path !== path.toLowerCase()) {
    throw new UserError(`${where} = '${image}' has upper-case letters; registries only accept lower-case image names.`, `Use '${fixed}'.`);
  }
  if (!PATH.test(path)) {
    throw new UserError(
      `${where} = '${image}' is not a valid image name.`,
      "Use lower-case letters, digits, '.', '_', '-' and '/', e.g. 'ghcr.io/org/repo-ci'.",
    );
  }
  return image;
}
