// Test support for the real container engine: the local busybox base image (no registry),
// a fixture project whose tasks run in it, a podman Docker-API socket for the docker CLI,
// and cleanup of every container and image a test made.
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"].find((p) => existsSync(p));
const APPLETS = ["sh", "echo", "cat", "ls", "id", "env", "mkdir", "touch", "sleep", "true", "false"];

/**
 * The busybox base image, tagged by a hash of what goes into it (the busybox binary and the
 * applets linked), so a test can never pick up an image of the same name holding something else.
 */
export const BASE_IMAGE = `localhost/dwf-test-base:${baseImageContentHash()}`;

function baseImageContentHash(): string {
  const h = new Bun.CryptoHasher("sha256");
  // The layout version covers how the root is laid out (its mode, below), not only what it holds.
  h.update(BUSYBOX ? readFileSync(BUSYBOX) : "no busybox")
    .update(APPLETS.join(","))
    .update("layout 2");
  return h.digest("hex").slice(0, 16);
}

function sh(argv: string[]): { code: number; out: string } {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
}

export function podmanAvailable(): boolean {
  return Bun.which("podman") !== null && sh(["podman", "version"]).code === 0;
}

/** Build the busybox base image the way TESTING.md shows, unless this content's tag exists. */
export function ensureBaseImage(): void {
  if (sh(["podman", "image", "exists", BASE_IMAGE]).code === 0) return;
  const dir = mkdtempSync(join(tmpdir(), "dwf-base-"));
  try {
    const tar = join(dir, "rootfs.tar");
    writeBaseRootfs(tar);
    const r = sh(["podman", "import", tar, BASE_IMAGE]);
    if (r.code !== 0) throw new Error(`podman import failed: ${r.out}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** BASE_IMAGE's root file system as a tarball (busybox and its applet links), for any engine's import. */
export function writeBaseRootfs(tar: string): void {
  if (!BUSYBOX) throw new Error("busybox (busybox-static) is needed to build the test base image");
  const root = mkdtempSync(join(tmpdir(), "dwf-base-root-"));
  try {
    // mkdtemp makes the folder 0700, and it becomes the image's `/`: a task running as an
    // ordinary user (rootless podman maps it to the invoking user) could not reach /bin.
    chmodSync(root, 0o755);
    mkdirSync(join(root, "bin"));
    copyFileSync(BUSYBOX, join(root, "bin/busybox"));
    for (const c of APPLETS) symlinkSync("busybox", join(root, "bin", c));
    const t = sh(["tar", "-C", root, "-cf", tar, "."]);
    if (t.code !== 0) throw new Error(`tar failed: ${t.out}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * busybox has no make, and the custom stack runs `make <target>`. This stand-in runs the recipe
 * lines of one target with `sh -e` (no prerequisites, no variables) — enough for fixtures.
 */
export const MAKE_SHIM = `#!/bin/sh
# Test stand-in for make: runs the recipe lines of one target with sh -e ($$ becomes $).
t="\${1:?target}"
recipe=$(awk -v t="$t" 'index($0, t ":") == 1 { on = 1; next } on && /^\\t/ { sub(/^\\t/, ""); gsub(/\\$\\$/, "$"); print; next } on { exit }' Makefile)
[ -n "$recipe" ] || { echo "make: *** No rule to make target '$t'." >&2; exit 2; }
exec sh -ec "$recipe"
`;

/** A Dockerfile.devflow on the base image; USER 1001 proves dwf's user mapping wins. */
export const TEST_DOCKERFILE = `FROM ${BASE_IMAGE}
COPY make-shim /bin/make
RUN for c in awk sed grep chmod stat head rm pwd; do ln -sf busybox /bin/$c; done && mkdir -p /tmp && chmod 1777 /tmp
USER 1001
`;

/** Files of a container fixture project: devflow.toml, Makefile (recipe lines are shell; `$` is escaped for make), shim, Dockerfile. */
export function containerProject(opts: {
  name: string;
  image: string;
  makefile: Record<string, string[]>;
  targets?: Record<string, string[]>;
  extra?: string;
}): Record<string, string> {
  const targets = opts.targets ?? { pr: ["test:unit"] };
  const toml = [
    `[project]\nname = "${opts.name}"\nstack = ["custom"]`,
    `[runtime]\nprofile = "container"`,
    `[container]\nimage = "${opts.image}"`,
    `[targets]\n${Object.entries(targets)
      .map(([k, v]) => `${k} = ${JSON.stringify(v)}`)
      .join("\n")}`,
    opts.extra ?? "",
  ].join("\n\n");
  const makefile = Object.entries(opts.makefile)
    .map(([target, lines]) => `${target}:\n${lines.map((l) => `\t${l.replaceAll("$", "$$$$")}\n`).join("")}`)
    .join("");
  return { "devflow.toml": toml, Makefile: makefile, "make-shim": MAKE_SHIM, "Dockerfile.devflow": TEST_DOCKERFILE };
}

/** Names of containers (running or stopped) whose name starts with the prefix. */
export function containersNamed(prefix: string): string[] {
  const r = sh(["podman", "ps", "-a", "--filter", `name=^${prefix}`, "--format", "{{.Names}}"]);
  return r.out.split("\n").filter((l) => l.startsWith(prefix));
}

export function removeContainers(prefix: string): void {
  const names = containersNamed(prefix);
  if (names.length) sh(["podman", "rm", "-f", "-t", "0", ...names]);
}

/** Remove every tag of an image repository (the fixture images a test built). */
export function removeImages(repository: string): void {
  const r = sh(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}", repository]);
  const refs = r.out.split("\n").filter((l) => l.startsWith(repository + ":"));
  if (refs.length) sh(["podman", "rmi", "-f", ...refs]);
}

export interface DockerSocket {
  dockerHost: string;
  stop(): Promise<void>;
}

/** podman's Docker-compatible API on a private socket, for the real docker CLI. */
export async function startDockerSocket(): Promise<DockerSocket> {
  const dir = mkdtempSync(join(tmpdir(), "dwf-sock-"));
  const sock = join(dir, "podman.sock");
  const proc = Bun.spawn(["podman", "system", "service", "--time=0", `unix://${sock}`], { stdout: "ignore", stderr: "ignore" });
  const dockerHost = `unix://${sock}`;
  for (let i = 0; i < 100; i++) {
    const r = Bun.spawnSync(["docker", "version", "--format", "{{.Server.Version}}"], {
      env: { ...process.env, DOCKER_HOST: dockerHost },
      stdout: "pipe",
      stderr: "pipe",
    });
    if (r.exitCode === 0) break;
    await Bun.sleep(100);
  }
  return {
    dockerHost,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Why podman's Docker API cannot run a container for this user here, or undefined. Rootless
 * podman networks containers through slirp4netns, which needs /dev/net/tun. The podman CLI can be
 * told to use no network (setup.ts does), but the docker CLI always asks podman's Docker API for
 * the default network, so where an ordinary user cannot open /dev/net/tun (some sandboxes) every
 * container fails to start ("unable to upgrade to tcp, received 409").
 */
export function dockerApiUnusable(): string | undefined {
  if (process.getuid?.() === 0) return undefined;
  try {
    closeSync(openSync("/dev/net/tun", "r+"));
    return undefined;
  } catch (e) {
    return `podman's Docker API cannot start containers for an ordinary user who cannot open /dev/net/tun (${(e as NodeJS.ErrnoException).code}); run as root, or where /dev/net/tun is usable`;
  }
}
