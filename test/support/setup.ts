// Preloaded before every test file (bunfig.toml): integration tests start real processes
// and containers, which outlast bun's 5 s default on a loaded 2-core machine. This default
// reaches tests but not hooks (beforeAll, afterAll): `npm test` passes --timeout, which
// reaches both.
import { setDefaultTimeout } from "bun:test";
import { closeSync, mkdtempSync, openSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prefetchToolchainImages } from "./images.ts";

setDefaultTimeout(120_000);

/**
 * Rootless podman gives each container a network through slirp4netns, which needs
 * /dev/net/tun. Where an ordinary user cannot open it (some sandboxes make it root-only),
 * containers and image builds run without a network instead: the tests need none, and dwf's
 * behaviour is the same. The config also carries what TESTING.md sets for this kernel.
 */
function rootlessWithoutTun(): boolean {
  if (process.getuid?.() === 0 || process.env.CONTAINERS_CONF) return false;
  try {
    closeSync(openSync("/dev/net/tun", "r+"));
    return false;
  } catch {
    return true;
  }
}

if (rootlessWithoutTun()) {
  const dir = mkdtempSync(join(tmpdir(), "dwf-test-containers-"));
  const conf = join(dir, "containers.conf");
  writeFileSync(conf, '[containers]\ndefault_ulimits = []\nnetns = "none"\n[engine]\nruntime = "runc"\n');
  process.env.CONTAINERS_CONF = conf;
  process.env.BUILDAH_ISOLATION = "chroot";
}

// After the container config above: the toolchain images build while the first tests run.
prefetchToolchainImages();
