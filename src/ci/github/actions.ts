// Every action a generated workflow uses, pinned to the full commit SHA of a release (a tag
// can be moved; a commit cannot), with the release in a comment beside each `uses:`. The one
// table: the renderer, the tests and the emulator all read it. All run on node24 or are
// composite (GitHub removed Node 20 from its runners in September 2026).
interface ActionPin {
  /** owner/name[/path] */
  action: string;
  sha: string;
  version: string;
}

function pin(action: string, sha: string, version: string): ActionPin {
  return { action, sha, version };
}

export const ACTION_PINS = {
  checkout: pin("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
  cacheRestore: pin("actions/cache/restore", "27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5"),
  cacheSave: pin("actions/cache/save", "27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5"),
  uploadArtifact: pin("actions/upload-artifact", "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
  downloadArtifact: pin("actions/download-artifact", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
  login: pin("docker/login-action", "4907a6ddec9925e35a0a9e82d7399ccc52663121", "v4.1.0"),
  buildx: pin("docker/setup-buildx-action", "37fe631027851001ddb9b187196cc803df7f5f0e", "v4.3.0"),
  qemu: pin("docker/setup-qemu-action", "96fe6ef7f33517b61c61be40b68a1882f3264fb8", "v4.2.0"),
  trivy: pin("aquasecurity/trivy-action", "ed142fd0673e97e23eac54620cfb913e5ce36c25", "v0.36.0"),
  attest: pin("actions/attest-build-provenance", "a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32", "v4.1.0"),
  setupBun: pin("oven-sh/setup-bun", "0c5077e51419868618aeaa5fe8019c62421857d6", "v2.2.0"),
} as const;

type ActionName = keyof typeof ACTION_PINS;

/** The `uses:` value; the YAML emitter appends `# <version>` (see USES_COMMENT). */
export function uses(name: ActionName): string {
  const p = ACTION_PINS[name];
  return `${p.action}@${p.sha}`;
}

/** `# vX.Y.Z` for a pinned `uses:` value, or undefined for anything else. */
export function versionComment(value: string): string | undefined {
  for (const p of Object.values(ACTION_PINS)) if (value === `${p.action}@${p.sha}`) return p.version;
  return undefined;
}
