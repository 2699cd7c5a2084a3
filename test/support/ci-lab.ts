// Everything the emulated CI runs need, started once per test file and stopped after it: a real
// registry on loopback, a Docker daemon on a private socket for the jobs' docker CLI, a release
// server holding the freshly built dwf and its checksum, and fixture repositories whose workflow
// `dwf ci generate` wrote.
//
// The daemon is podman's Docker API (with the registry marked insecure) where it can start
// containers: it shares podman's storage, so the images the lab and the emulated bake build with
// podman are there already. Where it cannot (an ordinary user without /dev/net/tun, see
// dockerApiUnusable), it is a real dockerd (rootless for an ordinary user, test/support/dockerd.ts),
// and the emulated bake hands what it builds to it (podman save | docker load); dockerd reaches
// the loopback registry without TLS as it does any registry on 127.0.0.0/8.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dwfBinary, fixture, GIT_IDENTITY, runDwf } from "./dwf.ts";
import { startDockerd, type Dockerd } from "./dockerd.ts";
import { dockerApiUnusable } from "./podman.ts";
import { currentVersion, packArchive, sumsFile, startReleaseServer, type ReleaseServer } from "./release-server.ts";
import { startRegistry, type LocalRegistry } from "./registry.ts";
import { runWorkflow, type DockerDaemon, type Event, type RunResult, type Runner } from "./gha-emulator.ts";

export interface CiLab {
  registry: LocalRegistry;
  release: ReleaseServer;
  dockerHost: string;
  /** Which daemon answers on dockerHost. */
  daemon: DockerDaemon;
  /** Env for podman and the docker CLI in this lab (registries.conf with the insecure registry). */
  env: Record<string, string>;
  /** A fresh Actions cache for one repository. */
  runner(): Runner;
  /** Remove this image repository's tags when the lab stops (what the jobs pulled or tagged). */
  trackImages(repository: string): void;
  stop(): Promise<void>;
}

export async function startCiLab(): Promise<CiLab> {
  const registry = await startRegistry();
  const version = currentVersion();
  const archive = packArchive(dwfBinary());
  const release = startReleaseServer({
    [`v${version}`]: { "dwf-linux-x64.tar.gz": archive, SHA256SUMS: sumsFile({ "dwf-linux-x64.tar.gz": archive }) },
  });
  const env: Record<string, string> = { CONTAINERS_REGISTRIES_CONF: registry.registriesConf };
  for (const k of ["CONTAINERS_STORAGE_CONF", "CONTAINERS_CONF"]) if (process.env[k]) env[k] = process.env[k]!;
  const labDir = mkdtempSync(join(tmpdir(), "dwf-lab-"));
  // Each job has a HOME of its own, and rootless podman keeps its images under HOME (it ignores
  // a storage.conf's graphroot): pin the jobs' podman to the storage this process's podman uses,
  // where the toolchain images are.
  if (process.getuid?.() !== 0) env.CONTAINERS_STORAGE_CONF = pinStorage(labDir, env);
  const daemon: DockerDaemon = dockerApiUnusable() ? "dockerd" : "podman-api";
  let dockerd: Dockerd | undefined;
  let service: ReturnType<typeof Bun.spawn> | undefined;
  let dockerHost: string;
  let up = false;
  if (daemon === "dockerd") {
    try {
      dockerd = await startDockerd();
    } catch (e) {
      release.stop();
      await registry.stop();
      rmSync(labDir, { recursive: true, force: true });
      throw e;
    }
    dockerHost = dockerd.dockerHost;
    up = true;
  } else {
    const sock = join(labDir, "podman.sock");
    service = Bun.spawn(["podman", "system", "service", "--time=0", `unix://${sock}`], {
      env: { ...process.env, ...env },
      stdout: "ignore",
      stderr: "ignore",
    });
    dockerHost = `unix://${sock}`;
    for (let i = 0; i < 150 && !up; i++) {
      up =
        Bun.spawnSync(["docker", "version", "--format", "{{.Server.Version}}"], {
          env: { ...process.env, DOCKER_HOST: dockerHost },
          stdout: "pipe",
          stderr: "pipe",
        }).exitCode === 0;
      if (!up) await Bun.sleep(100);
    }
  }
  const caches: string[] = [];
  const repositories = new Set<string>([registry.host + "/"]);
  const removeImages = () => {
    const list = Bun.spawnSync(["podman", "images", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"], {
      env: { ...process.env, ...env },
      stdout: "pipe",
    })
      .stdout.toString()
      .split("\n");
    const mine = (r: string) => [...repositories].some((p) => r.startsWith(p.endsWith("/") ? p : `${p}:`));
    // Tagged refs go by name. A ref pulled by digest has no tag: its image goes by id, but only
    // when no other name (such as a toolchain stand-in with the same content) points at it.
    const rows = list.map((l) => l.split(" ")).filter((r): r is [string, string] => r.length === 2 && r[1] !== "");
    const refs = rows
      .filter(([, r]) => mine(r))
      .map(([id, r]) => (r.endsWith(":<none>") ? (rows.every(([i, x]) => i !== id || mine(x)) ? id : "") : r))
      .filter(Boolean);
    if (refs.length)
      Bun.spawnSync(["podman", "rmi", "--force", ...new Set(refs)], {
        env: { ...process.env, ...env },
        stdout: "ignore",
        stderr: "ignore",
      });
  };
  const stop = async () => {
    removeImages();
    if (service) {
      service.kill("SIGTERM");
      await service.exited;
    }
    // dockerd's images (what the jobs loaded, pulled and tagged) go with its data root.
    await dockerd?.stop();
    release.stop();
    await registry.stop();
    rmSync(labDir, { recursive: true, force: true });
    for (const c of caches) rmSync(c, { recursive: true, force: true });
  };
  if (!up) {
    await stop();
    throw new Error("podman's Docker API service did not answer");
  }
  return {
    registry,
    release,
    dockerHost,
    daemon,
    env,
    trackImages: (repository) => void repositories.add(repository),
    runner() {
      const cacheDir = mkdtempSync(join(tmpdir(), "dwf-lab-cache-"));
      caches.push(cacheDir);
      const workspace = join(cacheDir, "work", "repo");
      return {
        cacheDir: join(cacheDir, "cache"),
        workspace,
        registry: registry.host,
        dockerHost,
        daemon,
        releaseBase: release.base,
        env,
        secrets: { DWF_REGISTRY_USERNAME: "ci", DWF_REGISTRY_PASSWORD: "emulated" },
      };
    },
    stop,
  };
}

/** A storage.conf naming the driver, graph root and run root podman uses here, whatever HOME says later. */
function pinStorage(dir: string, env: Record<string, string>): string {
  const r = Bun.spawnSync(
    ["podman", "info", "--format", "{{.Store.GraphDriverName}}\t{{.Store.GraphRoot}}\t{{.Store.RunRoot}}\t{{json .Store.GraphOptions}}"],
    { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" },
  );
  if (r.exitCode !== 0) throw new Error(`podman info failed: ${r.stderr.toString()}`);
  const [driver, graphroot, runroot, optionsJson] = r.stdout.toString().trim().split("\t");
  const options = JSON.parse(optionsJson || "{}") as Record<string, unknown>;
  const mountProgram = options["overlay.mount_program"] as { Executable?: string } | undefined;
  const conf = join(dir, "storage.conf");
  const lines = [
    "[storage]",
    `driver = ${JSON.stringify(driver)}`,
    `graphroot = ${JSON.stringify(graphroot)}`,
    `rootless_storage_path = ${JSON.stringify(graphroot)}`,
    `runroot = ${JSON.stringify(runroot)}`,
  ];
  if (mountProgram?.Executable) lines.push("[storage.options.overlay]", `mount_program = ${JSON.stringify(mountProgram.Executable)}`);
  writeFileSync(conf, lines.join("\n") + "\n");
  return conf;
}

function git(dir: string, ...args: string[]): string {
  const r = Bun.spawnSync(["git", ...args], {
    cwd: dir,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...GIT_IDENTITY },
  });
  if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")} failed: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

export interface CiRepo {
  dir: string;
  /** Commit everything on the current branch. */
  commit(message: string): void;
  branch(name: string): void;
  checkout(name: string): void;
  run(event: Event, branch: string): Promise<RunResult>;
}

/** A fixture repository on branch main whose workflow and bake file `dwf ci generate` wrote, committed. */
export async function ciRepo(lab: CiLab, files: Record<string, string>, runner: Runner, prepare?: (dir: string) => void): Promise<CiRepo> {
  const dir = fixture(files);
  git(dir, "init", "-q", "-b", "main");
  prepare?.(dir);
  const gen = await runDwf(["ci", "generate"], { cwd: dir, env: { DWF_DOWNLOAD_BASE: lab.release.base } });
  if (gen.code !== 0) throw new Error(`dwf ci generate failed:\n${gen.all}`);
  const fp = await runDwf(["fingerprint", "--json"], { cwd: dir });
  lab.trackImages(String(JSON.parse(fp.stdout).image).replace(/:[^:/]+$/, ""));
  const repo: CiRepo = {
    dir,
    commit(message) {
      git(dir, "add", "-A");
      git(dir, "commit", "-q", "--allow-empty", "-m", message);
    },
    branch: (name) => void git(dir, "checkout", "-q", "-b", name),
    checkout: (name) => void git(dir, "checkout", "-q", name),
    run: (event, branch) => runWorkflow(runner, { repo: dir, branch, event }),
  };
  repo.commit("initial");
  return repo;
}

/** A readable account of a run for failure messages: each job's result, and the log of failed ones. */
export function describeRun(r: RunResult): string {
  let out = "";
  for (const j of Object.values(r.jobs)) {
    out += `${j.id}: ${j.result} (${j.ms} ms)${j.error ? ` — ${j.error}` : ""}\n`;
    if (j.result === "failure") out += j.log.slice(-6000) + "\n";
  }
  return out;
}
