// Container images the tests use, built offline from content the tests own and tagged by a hash
// of that content: two tests can never disagree about what an image of one name holds, and a
// fresh machine (empty storage) builds each one once.
//
// Toolchain images stand in for what `Dockerfile.devflow` would build (that needs the internet):
// a Debian root file system from the machine's own apt sources (mmdebstrap), with Debian's
// toolchain packages, laid out like the generated final stage — user dwf (1001), tini as the
// entrypoint, /workspace, HOME=/home/dwf, no curl or wget.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type ToolchainKind = "node" | "rust" | "python";

/** Debian packages per toolchain; what the tests' fixtures run in the container. */
const TOOLCHAIN_PACKAGES: Record<ToolchainKind, string[]> = {
  node: ["nodejs", "npm"],
  rust: ["cargo", "rustc", "rust-clippy", "rustfmt"],
  python: ["python3", "python3-pytest", "python3-venv", "python3-pip"],
};

const COMMON_PACKAGES = ["ca-certificates", "tini", "git", "make"];
const UID = 1001;
const SOURCES = "/etc/apt/sources.list.d/debian.sources";

/** Runs inside the new root (mmdebstrap customize hook): the generated final stage's layout. */
const LAYOUT_HOOK = [
  `chroot "$1" groupadd --gid ${UID} dwf`,
  `chroot "$1" useradd --uid ${UID} --gid ${UID} --create-home --shell /bin/bash dwf`,
  `chmod 0777 "$1/home/dwf"`,
  `mkdir -p "$1/workspace"`,
  `rm -f "$1/usr/bin/curl" "$1/usr/bin/wget"`,
  `rm -rf "$1/var/lib/apt/lists"/* "$1/var/cache/apt"/*`,
];

const IMPORT_CHANGES = ["ENV HOME=/home/dwf", `USER ${UID}`, "WORKDIR /workspace", 'ENTRYPOINT ["/usr/bin/tini", "--"]', 'CMD ["bash"]'];

function sh(argv: string[], opts: { timeoutMs?: number } = {}): { code: number; out: string } {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe", timeout: opts.timeoutMs });
  return { code: r.exitCode ?? 1, out: r.stdout.toString() + r.stderr.toString() };
}

function hash(parts: (string | Uint8Array)[]): string {
  const h = new Bun.CryptoHasher("sha256");
  for (const p of parts) h.update(p).update("\0");
  return h.digest("hex").slice(0, 16);
}

export function imageExists(ref: string): boolean {
  return sh(["podman", "image", "exists", ref]).code === 0;
}

/** The tag a toolchain image gets: a hash of everything that goes into it. */
export function toolchainImageTag(kind: ToolchainKind): string {
  const sources = existsSync(SOURCES) ? readFileSync(SOURCES) : new Uint8Array();
  const content = hash([kind, ...COMMON_PACKAGES, ...TOOLCHAIN_PACKAGES[kind], ...LAYOUT_HOOK, ...IMPORT_CHANGES, sources]);
  return `localhost/dwf-test-${kind}:${content}`;
}

const building = new Map<ToolchainKind, Promise<string>>();

/**
 * A toolchain image for container tests, built once per content (about 45 s on a fresh machine).
 * Throws with the builder's output when it cannot be built: a test that needs it must fail, not skip.
 */
export function toolchainImage(kind: ToolchainKind): Promise<string> {
  let p = building.get(kind);
  if (!p) {
    p = buildToolchainImage(kind);
    building.set(kind, p);
  }
  return p;
}

async function buildToolchainImage(kind: ToolchainKind): Promise<string> {
  const ref = toolchainImageTag(kind);
  if (imageExists(ref)) return ref;
  if (!Bun.which("mmdebstrap")) throw new Error("mmdebstrap is needed to build the test toolchain images (apt-get install mmdebstrap)");
  const dir = mkdtempSync(join(tmpdir(), `dwf-image-${kind}-`));
  try {
    const tar = join(dir, "rootfs.tar");
    const packages = [...COMMON_PACKAGES, ...TOOLCHAIN_PACKAGES[kind]].join(",");
    const proc = Bun.spawn(
      [
        "mmdebstrap",
        "--quiet",
        "--variant=apt",
        `--include=${packages}`,
        ...LAYOUT_HOOK.map((h) => `--customize-hook=${h}`),
        "bookworm",
        tar,
        SOURCES,
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) throw new Error(`mmdebstrap for the ${kind} test image failed (exit ${code}):\n${(out + err).slice(-4000)}`);
    // Asynchronous like the build: importing a large root file system takes seconds, and other tests go on meanwhile.
    const imp = Bun.spawn(["podman", "import", ...IMPORT_CHANGES.flatMap((c) => ["--change", c]), tar, ref], {
      stdout: "pipe",
      stderr: "pipe",
      timeout: 300_000,
    });
    const [iOut, iErr, iCode] = await Promise.all([new Response(imp.stdout).text(), new Response(imp.stderr).text(), imp.exited]);
    if (iCode !== 0) throw new Error(`podman import of the ${kind} test image failed:\n${iOut}${iErr}`);
    return ref;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Start building every toolchain image now, in the background, when this run includes the
 * tests that need them: the builds (mostly downloads and unpacking) overlap the tests that run
 * first. A test awaits the same build through toolchainImage, and a failed build fails it there.
 */
export function prefetchToolchainImages(argv: string[] = commandLine()): void {
  for (const kind of toolchainImagesFor(argv)) toolchainImage(kind).catch(() => {});
}

/** This process's own command line (`bun test --timeout … [files]`): bun test gives each file a process.argv of its own. */
function commandLine(): string[] {
  try {
    return readFileSync("/proc/self/cmdline", "utf8").split("\0").filter(Boolean);
  } catch {
    return process.argv;
  }
}

/** bun test flags that take a value, so the value is not taken for a file filter. */
const VALUE_FLAGS = new Set([
  "--timeout",
  "--seed",
  "-t",
  "--test-name-pattern",
  "--preload",
  "--rerun-each",
  "--reporter",
  "--reporter-outfile",
  "--coverage-dir",
  "--bail",
]);
/** The files whose tests build toolchain images, and which. */
const IMAGE_TESTS: Record<string, ToolchainKind[]> = {
  "test/integration/deps.test.ts": ["node", "python"],
  "test/integration/ci-emulated.test.ts": ["rust", "node", "python"],
};

/** The toolchain images the files this `bun test` runs will need: all with no file filter, else those of the files a filter matches. */
export function toolchainImagesFor(argv: string[]): Set<ToolchainKind> {
  const at = argv.findIndex((a) => a === "test");
  const args = at < 0 ? [] : argv.slice(at + 1);
  const filters: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith("-")) {
      if (VALUE_FLAGS.has(a)) i++;
      continue;
    }
    filters.push(a.replace(/^\.\//, ""));
  }
  const kinds = new Set<ToolchainKind>();
  for (const [file, needs] of Object.entries(IMAGE_TESTS))
    if (filters.length === 0 || filters.some((f) => file.includes(f))) for (const k of needs) kinds.add(k);
  return kinds;
}
