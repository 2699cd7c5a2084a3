// engine = "docker" on two real daemons: Debian's dockerd (started here on a private socket)
// and podman's Docker API, whose `docker run --rm` exits 0 whatever the container returned.
// The compiled dwf must report the task's real exit code on both, leave no container on any
// path (pass, fail, engine error, Ctrl-C, SIGTERM), and remove what a killed dwf left behind.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { cleanEnv, dwfBinary, fixture, runDwf } from "../support/dwf.ts";
import {
  containerProject,
  dockerApiUnusable,
  ensureBaseImage,
  podmanAvailable,
  removeImages,
  startDockerSocket,
} from "../support/podman.ts";
import { dockerdMissing, startDockerd } from "../support/dockerd.ts";

const TOKEN = Math.random().toString(36).slice(2, 8);
const SLOW = 120_000;

interface Daemon {
  dockerHost: string;
  stop(): Promise<void>;
}

const ROOT = process.getuid!() === 0;

const daemons: {
  name: string;
  missing: () => string | undefined;
  impossible?: () => string | undefined;
  start: () => Promise<Daemon>;
  cleanup?: (image: string) => void;
}[] = [
  { name: "dockerd 20.10", missing: dockerdMissing, start: startDockerd },
  {
    name: "podman's Docker API",
    missing: () =>
      podmanAvailable() && Bun.which("docker") !== null ? undefined : "podman and the docker CLI are needed (apt: podman, docker.io)",
    impossible: dockerApiUnusable,
    start: async () => {
      ensureBaseImage();
      return startDockerSocket();
    },
    cleanup: removeImages,
  },
];

for (const daemon of daemons) {
  // A missing daemon fails loudly: this suite exists to run against both. Only what cannot work
  // on this machine at all is skipped, and says why (shown as skipped, never as passed).
  const impossible = daemon.impossible?.();
  if (impossible) console.warn(`docker-engine.test.ts: skipping ${daemon.name}: ${impossible}`);
  (impossible ? describe.skip : describe)(`engine = docker on ${daemon.name}`, () => {
    const slug = daemon.name.startsWith("dockerd") ? "dockerd" : "podapi";
    const project = `dk-${slug}-${TOKEN}`;
    const image = `localhost/dwf-dk-${slug}-${TOKEN}`;
    let d: Daemon | undefined;

    const files = () =>
      containerProject({
        name: project,
        image,
        targets: { pr: ["test:unit"], fail: ["lint:static"], slow: ["build:debug"] },
        makefile: {
          "test-unit": [
            'echo "in $(pwd) as $(id -u):$(id -g)"',
            "cat input.txt",
            "touch written.txt",
            "mkdir -p out && echo made > out/made.txt",
          ],
          "lint-static": ["echo failing on purpose", "exit 3"],
          "build-debug": ["echo started", "sleep 60"],
          "test-integration": ['echo "marker=$DWF_IN_CONTAINER"'],
        },
      });
    const env = (more: Record<string, string> = {}) => ({ DWF_ENGINE: "docker", DOCKER_HOST: d!.dockerHost, ...more });
    const docker = (args: string[]) => {
      const r = Bun.spawnSync(["docker", ...args], { env: { ...process.env, DOCKER_HOST: d!.dockerHost }, stdout: "pipe", stderr: "pipe" });
      return r.stdout.toString() + r.stderr.toString();
    };
    /** This project's containers, running or not, by the label dwf puts on each. */
    const containers = (): string[] =>
      docker(["ps", "-a", "--filter", `label=dev.devflow.project=${project}`, "--format", "{{.Names}}"])
        .split("\n")
        .filter((l) => l.startsWith("dwf-"));
    const running = (): string[] =>
      docker(["ps", "--filter", `label=dev.devflow.project=${project}`, "--filter", "status=running", "--format", "{{.Names}}"])
        .split("\n")
        .filter((l) => l.startsWith("dwf-"));

    beforeAll(async () => {
      const missing = daemon.missing();
      if (missing) throw new Error(`${daemon.name} cannot run here: ${missing} (see TESTING.md)`);
      dwfBinary();
      d = await daemon.start();
    });
    afterAll(async () => {
      if (d) {
        const left = containers();
        if (left.length) docker(["rm", "-f", ...left]);
        daemon.cleanup?.(image);
        await d.stop();
      }
    });

    test(
      "a passing task passes; what it writes in the workspace belongs to the invoking user; no container is left",
      async () => {
        const dir = fixture({ ...files(), "input.txt": "from the host\n" });
        const r = await runDwf(["verify"], { cwd: dir, env: env() });
        // As an ordinary user the daemon is rootless: the container's root is that user.
        expect(r.all).toContain(`in /workspace as ${ROOT ? `${process.getuid!()}:${process.getgid!()}` : "0:0"}`);
        expect(r.all).toContain("from the host");
        expect(r.code).toBe(0);
        // The image says USER 1001: without dwf's user mapping these would belong to 1001.
        for (const f of ["written.txt", "out", "out/made.txt"]) {
          const st = statSync(join(dir, f));
          expect([f, st.uid, st.gid]).toEqual([f, process.getuid!(), process.getgid!()]);
        }
        expect(containers()).toEqual([]);
      },
      SLOW,
    );

    test(
      "a failing task fails: dwf exits 1 and shows the task's own exit code; no container is left",
      async () => {
        const dir = fixture(files());
        const r = await runDwf(["verify", "fail"], { cwd: dir, env: env() });
        expect(r.all).toContain("failing on purpose");
        expect(r.all).toMatch(/✖ failed lint:static.* — exit code 3/);
        expect(r.code).toBe(1);
        const json = await runDwf(["verify", "fail", "--json", "--no-cache"], { cwd: dir, env: env() });
        expect(JSON.parse(json.stdout).tasks[0]).toMatchObject({ status: "failed", exitCode: 3 });
        expect(json.code).toBe(1);
        expect(containers()).toEqual([]);
      },
      SLOW,
    );

    test(
      "dwf shell -- cmd passes the command's exit code through and removes its container",
      async () => {
        const r = await runDwf(["shell", "--", "sh", "-c", "echo in-shell; exit 4"], { cwd: fixture(files()), env: env() });
        expect(r.stdout).toContain("in-shell");
        expect(r.code).toBe(4);
        expect(containers()).toEqual([]);
      },
      SLOW,
    );

    test(
      "an engine error (a user the image does not have) fails the task and leaves no container",
      async () => {
        const f = files();
        f["devflow.toml"] = f["devflow.toml"]!.replace(`image = "${image}"`, `image = "${image}"\nuser = "no-such-user"`);
        const r = await runDwf(["test:integration"], { cwd: fixture(f), env: env() });
        expect(r.code).toBe(1);
        // dockerd names the problem; podman's Docker API only says "unable to upgrade to tcp, received 409".
        if (slug === "dockerd") expect(r.all).toMatch(/unable to find user no-such-user/);
        // dockerd: 125; podman's Docker API: 1, with the container created but never started.
        expect(r.all).toMatch(
          /✖ failed test:integration.* — docker (could not start the container|created the container but could not start it) \(exit code \d+; see the output above\)/,
        );
        expect(containers()).toEqual([]);
      },
      SLOW,
    );

    for (const [signal, code] of [
      ["SIGINT", 130],
      ["SIGTERM", 143],
    ] as const) {
      test(
        `${signal} while a container task runs: dwf exits ${code} and removes the container`,
        async () => {
          const proc = Bun.spawn([dwfBinary(), "verify", "slow"], {
            cwd: fixture(files()),
            env: cleanEnv(env()),
            stdin: "ignore",
            stdout: "pipe",
            stderr: "pipe",
          });
          try {
            await waitFor(() => running().length === 1, "the task's container to run");
            proc.kill(signal);
            expect(await proc.exited).toBe(code);
            expect(containers()).toEqual([]);
          } finally {
            proc.kill("SIGKILL");
          }
        },
        SLOW,
      );
    }

    test(
      "after kill -9 of dwf its container keeps running, labelled with dwf's pid; the next run removes it",
      async () => {
        const dir = fixture(files());
        const proc = Bun.spawn([dwfBinary(), "verify", "slow"], {
          cwd: dir,
          env: cleanEnv(env()),
          stdin: "ignore",
          stdout: "pipe",
          stderr: "pipe",
        });
        let orphan = "";
        try {
          await waitFor(() => running().length === 1, "the task's container to run");
          orphan = running()[0]!;
          expect(docker(["inspect", "--format", '{{index .Config.Labels "dev.devflow.pid"}}', orphan]).trim()).toBe(String(proc.pid));
          proc.kill("SIGKILL");
          await proc.exited;
          await Bun.sleep(300);
          expect(running()).toEqual([orphan]);

          const next = await runDwf(["test:integration", "--no-cache"], { cwd: dir, env: env() });
          expect(next.all).toContain(`Removed 1 container left behind by a dwf run that was killed: ${orphan}`);
          expect(next.all).toContain("marker=1");
          expect(next.code).toBe(0);
          expect(containers()).toEqual([]);
          // The killed dwf's engine CLI was attached to that container: it ends with it.
          await waitFor(() => processesMentioning(orphan).length === 0, "the orphaned engine CLI to exit");
        } finally {
          proc.kill("SIGKILL");
          for (const pid of orphan ? processesMentioning(orphan) : []) process.kill(pid, "SIGKILL");
        }
      },
      SLOW,
    );

    // As root, also as an ordinary user (as one, every test above already is).
    if (daemon.name.startsWith("dockerd") && ROOT) {
      test(
        "run by an ordinary user (uid 4321), files the task writes belong to that user, not root or the image's 1001",
        async () => {
          if (!Bun.which("setpriv")) throw new Error("setpriv (util-linux) is needed");
          const dir = fixture({ ...files(), "input.txt": "as someone else\n" });
          const home = fixture({});
          for (const p of [dir, home, ...walk(dir)]) chownSync(p, 4321, 4321);
          // The daemon's socket is root's; let this one user in for the test.
          const sock = d!.dockerHost.replace("unix://", "");
          chownSync(sock, 4321, 4321);
          chmodSync(sock, 0o600);
          chmodSync(dirname(sock), 0o711);
          try {
            const proc = Bun.spawn(["setpriv", "--reuid=4321", "--regid=4321", "--clear-groups", dwfBinary(), "verify"], {
              cwd: dir,
              env: cleanEnv(env({ HOME: home })),
              stdout: "pipe",
              stderr: "pipe",
            });
            const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
            expect(out + err).toContain("in /workspace as 4321:4321");
            expect(await proc.exited).toBe(0);
            for (const f of ["written.txt", "out", "out/made.txt"]) {
              const st = statSync(join(dir, f));
              expect([f, st.uid, st.gid]).toEqual([f, 4321, 4321]);
            }
            expect(containers()).toEqual([]);
          } finally {
            chownSync(sock, 0, 0);
            chmodSync(sock, 0o660);
            chmodSync(dirname(sock), 0o700);
          }
        },
        SLOW,
      );
    }
  });
}

async function waitFor(check: () => boolean, what: string, ms = 60_000): Promise<void> {
  const until = performance.now() + ms;
  while (!check()) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

/** Pids of processes whose command line contains text (the engine CLI a killed dwf left). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text)) pids.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return pids;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).map((p) => join(dir, p));
}
