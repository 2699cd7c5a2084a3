// Test support for a real Docker daemon: Debian's dockerd (docker.io) started by the test on a
// private unix socket with its own data and exec roots (no systemd here), the busybox base
// image imported into it, and everything stopped and deleted afterwards, also on failure.
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
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

export function dockerdAvailable(): boolean {
  return Bun.which("dockerd") !== null && Bun.which("docker") !== null;
}

/** Start dockerd, wait until it answers, import the base image; throws (after cleaning up) if it cannot. */
export async function startDockerd(): Promise<Dockerd> {
  // Short path: unix socket paths are limited to 108 bytes, and containerd's lives under exec-root.
  const dir = mkdtempSync("/tmp/dwf-dockerd-");
  const sock = join(dir, "docker.sock");
  const logPath = join(dir, "dockerd.log");
  const dockerHost = `unix://${sock}`;
  const docker = (args: string[]) => {
    const r = Bun.spawnSync(["docker", ...args], { env: { ...process.env, DOCKER_HOST: dockerHost }, stdout: "pipe", stderr: "pipe", timeout: 60_000 });
    return { code: r.exitCode ?? 1, out: r.stdout.toString() + r.stderr.toString() };
  };
  const argv = [
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
  // Its own process group, so the containerd it starts can be stopped with it.
  const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "ignore", stderr: Bun.file(logPath), detached: true });
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
      const ids = docker(["ps", "-aq"]).out.split("\n").filter((l) => /^[0-9a-f]+$/.test(l));
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
    rmSync(dir, { recursive: true, force: true });
    process.off("exit", onExit);
  };

  try {
    const started = performance.now();
    for (;;) {
      if (docker(["version", "--format", "{{.Server.Version}}"]).code === 0) break;
      if (proc.exitCode !== null) throw new Error(`dockerd exited with code ${proc.exitCode} before it answered:\n${tail(logPath)}`);
      if (performance.now() - started > START_TIMEOUT_MS) throw new Error(`dockerd did not answer on ${sock} within ${START_TIMEOUT_MS / 1000} s:\n${tail(logPath)}`);
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
