// Test support for a real Docker daemon: Debian's dockerd (docker.io) started by the test on a
// private unix socket with its own data and exec roots (no systemd here), the busybox base
// image imported into it, and everything stopped and deleted afterwards, also on failure.
// As root it is an ordinary dockerd; as an ordinary user a rootless one, in a user namespace
// made by rootlesskit (apt: rootlesskit, uidmap; the user needs /etc/subuid and /etc/subgid).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { BASE_IMAGE, writeBaseRootfs } from "./podman.ts";

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

export interface Dockerd {
  /** `unix://…/docker.sock`, for DOCKER_HOST. */
  dockerHost: string;
  /** Run the docker CLI against this daemon. */
  docker(args: string[]): { code: number; out: string };
  stop(): Promise<void>;
}

const ROOTLESS = process.getuid?.() !== 0;

/** What is missing to start dockerd here, or undefined when nothing is. */
export function dockerdMissing(): string | undefined {
  const need = ["dockerd", "docker", ...(ROOTLESS ? ["rootlesskit", "newuidmap"] : [])];
  const missing = need.filter((p) => Bun.which(p) === null);
  if (missing.length) return `${missing.join(", ")} not on PATH (apt: docker.io${ROOTLESS ? ", rootlesskit, uidmap" : ""})`;
  return undefined;
}

/** Start dockerd, wait until it answers, import the base image; throws (after cleaning up) if it cannot. */
export async function startDockerd(): Promise<Dockerd> {
  // Short path: unix socket paths are limited to 108 bytes, and containerd's lives under exec-root.
  const dir = mkdtempSync("/tmp/dwf-dockerd-");
  const sock = join(dir, "docker.sock");
  const logPath = join(dir, "dockerd.log");
  const dockerHost = `unix://${sock}`;
  const docker = (args: string[]) => {
    const r = Bun.spawnSync(["docker", ...args], {
      env: { ...process.env, DOCKER_HOST: dockerHost },
      stdout: "pipe",
      stderr: "pipe",
      timeout: 60_000,
    });
    return { code: r.exitCode ?? 1, out: r.stdout.toString() + r.stderr.toString() };
  };
  const dockerd = [
    "dockerd",
    "--host",
    dockerHost,
    "--data-root",
    join(dir, "data"),
    "--exec-root",
    join(dir, "exec"),
    "--pidfile",
    join(dir, "dockerd.pid"),
    // No systemd, no firewall, no bridge: containers get loopback only, which tests need.
    "--iptables=false",
    "--bridge=none",
  ];
  // Rootless: rootlesskit makes the user namespace (host network: containers get loopback only)
  // and gives dockerd private copies of /etc and /run, from which the host's docker and
  // containerd state must go (as dockerd-rootless.sh does).
  const rootlessState = join(dir, "rootlesskit");
  const inUserNs = (argv: string[]) => [
    "rootlesskit",
    "--net=host",
    "--copy-up=/etc",
    "--copy-up=/run",
    "--propagation=rslave",
    `--state-dir=${rootlessState}`,
    ...argv,
  ];
  const argv = ROOTLESS
    ? inUserNs(["sh", "-c", 'rm -f /run/docker /run/containerd /run/xtables.lock; exec "$@"', "sh", ...dockerd])
    : dockerd;
  const xdg = join(dir, "xdg");
  mkdirSync(xdg, { mode: 0o700 });
  const env = { ...process.env, XDG_RUNTIME_DIR: xdg };
  // Its own process group, so the containerd it starts can be stopped with it.
  const proc = Bun.spawn(argv, { env, stdin: "ignore", stdout: "ignore", stderr: Bun.file(logPath), detached: true });
  const killGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-proc.pid, sig);
    } catch {
      /* already gone */
    }
  };
  // A test process that dies without afterAll must not leave a daemon behind.
  const onExit = () => killGroup("SIGKILL");
  process.on("exit", onExit);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (proc.exitCode === null) {
      const ids = docker(["ps", "-aq"])
        .out.split("\n")
        .filter((l) => /^[0-9a-f]+$/.test(l));
      if (ids.length) docker(["rm", "-f", ...ids]);
      killGroup("SIGTERM");
      const done = await Promise.race([proc.exited.then(() => true), Bun.sleep(STOP_TIMEOUT_MS).then(() => false)]);
      if (!done) {
        killGroup("SIGKILL");
        await proc.exited;
      }
    }
    // containerd may outlive dockerd by a moment; anything mounted under the data root goes too.
    killGroup("SIGKILL");
    unmountUnder(dir);
    // Rootless image layers belong to the user's subordinate ids: delete them from inside a user namespace.
    if (ROOTLESS) {
      rmSync(rootlessState, { recursive: true, force: true });
      Bun.spawnSync(inUserNs(["rm", "-rf", join(dir, "data"), join(dir, "exec")]), {
        env,
        stdout: "ignore",
        stderr: "ignore",
        timeout: 60_000,
      });
    }
    rmSync(dir, { recursive: true, force: true });
    process.off("exit", onExit);
  };

  try {
    const started = performance.now();
    for (;;) {
      if (docker(["version", "--format", "{{.Server.Version}}"]).code === 0) break;
      if (proc.exitCode !== null) throw new Error(`dockerd exited with code ${proc.exitCode} before it answered:\n${tail(logPath)}`);
      if (performance.now() - started > START_TIMEOUT_MS)
        throw new Error(`dockerd did not answer on ${sock} within ${START_TIMEOUT_MS / 1000} s:\n${tail(logPath)}`);
      await Bun.sleep(100);
    }
    const tar = join(dir, "rootfs.tar");
    writeBaseRootfs(tar);
    const imported = docker(["import", tar, BASE_IMAGE]);
    rmSync(tar, { force: true });
    if (imported.code !== 0) throw new Error(`docker import of the base image failed: ${imported.out}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return { dockerHost, docker, stop };
}

function tail(path: string): string {
  if (!existsSync(path)) return "(no log)";
  return readFileSync(path, "utf8").split("\n").slice(-20).join("\n");
}

/** Lazily unmount whatever dockerd left mounted below dir (overlay layers, netns, shm). */
function unmountUnder(dir: string): void {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((m): m is string => !!m && m.startsWith(dir + "/"))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) Bun.spawnSync(["umount", "-l", m], { stdout: "ignore", stderr: "ignore" });
}
