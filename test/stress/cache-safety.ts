// Cache-root and own-file safety, in a loop: each round builds a git project with tracked, old
// files and a victim folder outside it, then makes one attack chosen at random and checks that
// dwf fails safely. Attacks:
//  - a hostile cache root (config: "../victim", "src", ".", "", "/etc" through "..", a symlinked
//    .cache/devflow; env: $HOME, a full folder, the project, "/", a folder an earlier dwf
//    tagged by mistake), then `test:unit` and `cache prune --all`: exit 2, and no file in the
//    victim or the project is created, changed or deleted (and `git status` is unchanged);
//  - a FIFO, a symlink to /dev/zero or a 300 MB sparse file in place of a task entry, the stat
//    cache or the config memo: the run passes within the time limit;
//  - a planted file of a shape dwf never writes inside tasks/: `cache prune --all` keeps it;
//  - an extension giving a hostile container path (":ro,z", "/", "/workspace/…", a newline…), env
//    name ("A=B", newline, empty…), cache path, symlinked cwd or "/**" fingerprint input: exit 2
//    naming the extension, and its action never runs.
// Usage: bun test/stress/cache-safety.ts [--rounds 200] [--seed N]
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rng } from "./fuzz-gen.ts";
import { GIT_IDENTITY } from "../support/git.ts";
import { binary, cleanChildEnv, flag } from "./_util.ts";

const rounds = Number(flag("--rounds") ?? 200);
const seed = Number(flag("--seed") ?? Math.floor(Math.random() * 2 ** 31));
const bin = binary();
const rand = rng(seed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const OLD = new Date(Date.now() - 30 * 86_400_000);
const LIMIT_MS = 20_000;
/** The slowest single dwf run of all rounds, ms. */
let slowest = 0;
let runs = 0;

function sh(argv: string[], cwd: string): string {
  const r = Bun.spawnSync(argv, {
    cwd,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...GIT_IDENTITY },
  });
  return r.stdout.toString();
}

async function dwf(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ code: number | "timeout"; stderr: string; ms: number }> {
  const started = performance.now();
  runs++;
  const proc = Bun.spawn([bin, ...args], { cwd, env: cleanChildEnv(env), stdout: "ignore", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), LIMIT_MS);
  const stderr = await new Response(proc.stderr).text();
  const code = await proc.exited;
  clearTimeout(timer);
  const ms = performance.now() - started;
  slowest = Math.max(slowest, ms);
  return { code: ms >= LIMIT_MS ? "timeout" : code, stderr, ms };
}

function snapshot(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (name === ".git") continue;
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out.push(`${p}/`);
        visit(p);
      } else out.push(`${p} ${st.mtimeMs} ${st.isFile() ? readFileSync(p, "utf8") : "special"}`);
    }
  };
  visit(dir);
  return out;
}

interface Round {
  base: string;
  project: string;
  victim: string;
}

function setup(): Round {
  const base = mkdtempSync(join(tmpdir(), "dwf-stress-cache-"));
  const project = join(base, "proj");
  const victim = join(base, "victim");
  mkdirSync(join(project, "src"), { recursive: true });
  mkdirSync(join(victim, "photos"), { recursive: true });
  writeFileSync(join(project, "Makefile"), "test-unit:\n\t@true\n");
  writeFileSync(join(project, "devflow.toml"), '[project]\nstack = ["custom"]\n');
  writeFileSync(join(project, "src/a.c"), "int main(void) { return 0; }\n");
  writeFileSync(join(victim, "notes.txt"), "mine\n");
  writeFileSync(join(victim, "photos/a.jpg"), "jpeg\n");
  for (const p of [join(project, "src/a.c"), join(victim, "notes.txt"), join(victim, "photos/a.jpg"), join(victim, "photos")])
    utimesSync(p, OLD, OLD);
  sh(["git", "init", "-q"], project);
  sh(["git", "add", "-A"], project);
  sh(["git", "commit", "-qm", "init"], project);
  return { base, project, victim };
}

type Attack = (r: Round) => Promise<string | null>;

const LEGACY_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by dwf (Devflow).\n";

/** A hostile cache root: both commands exit 2; nothing in the victim or the project changes. */
function hostileRoot(name: string, arrange: (r: Round) => Record<string, string>): [string, Attack] {
  return [
    name,
    async (r) => {
      const env = arrange(r);
      const watched = [r.victim, join(r.project, "src")];
      const before = watched.map(snapshot);
      const status = sh(["git", "status", "--porcelain", "--untracked-files=all"], r.project);
      for (const args of [["test:unit"], ["cache", "prune", "--all"]]) {
        const res = await dwf(args, r.project, env);
        if (res.code !== 2) return `${args.join(" ")} exited ${res.code}: ${res.stderr.trim().split("\n")[0]}`;
        if (!/^error: .+\n {2}\S/.test(res.stderr) || res.stderr.includes("internal error")) return `unclear message: ${res.stderr}`;
      }
      const after = watched.map(snapshot);
      if (JSON.stringify(after) !== JSON.stringify(before)) return "a watched file changed";
      if (sh(["git", "status", "--porcelain", "--untracked-files=all"], r.project) !== status) return "git status changed";
      return null;
    },
  ];
}

function toml(r: Round, root: string): Record<string, string> {
  writeFileSync(join(r.project, "devflow.toml"), `[project]\nstack = ["custom"]\n[cache]\nroot = ${JSON.stringify(root)}\n`);
  return {};
}

/** A non-regular or huge file in place of one dwf keeps: the next run passes in time. */
function ownFile(name: string, which: "entry" | "stat" | "memo", how: "fifo" | "zero" | "sparse"): [string, Attack] {
  return [
    name,
    async (r) => {
      for (let i = 0; i < 2; i++) {
        const res = await dwf(["test:unit"], r.project);
        if (res.code !== 0) return `setup run exited ${res.code}`;
      }
      const tasks = join(r.project, ".cache/devflow/tasks");
      const shard = readdirSync(tasks).find((n) => /^[0-9a-f]{2}$/.test(n))!;
      const stat = readdirSync(join(tasks, "stat"));
      const path =
        which === "entry"
          ? join(tasks, shard, readdirSync(join(tasks, shard))[0]!)
          : join(tasks, "stat", stat.find((n) => (which === "memo" ? n.endsWith("-config.json") : /^[0-9a-f]{24}\.json$/.test(n)))!);
      rmSync(path);
      if (how === "fifo") Bun.spawnSync(["mkfifo", path]);
      else if (how === "zero") symlinkSync("/dev/zero", path);
      else {
        writeFileSync(path, "");
        truncateSync(path, 300 * 1024 * 1024);
      }
      const res = await dwf(["test:unit"], r.project);
      if (res.code !== 0) return `run exited ${res.code} in ${Math.round(res.ms)} ms: ${res.stderr.trim().split("\n")[0]}`;
      return null;
    },
  ];
}

/** An external extension (sh) answering --describe and --build-action with the given JSON. */
function hostileExtension(
  name: string,
  describe: object,
  action: object = { program: "touch", args: ["ran"] },
  arrange?: (r: Round) => void,
): [string, Attack] {
  return [
    name,
    async (r) => {
      const q = (o: object) => JSON.stringify(o).replaceAll("'", "'\\''");
      writeFileSync(
        join(r.project, "devflow-ext-evil"),
        `#!/bin/sh\ncase "$1" in\n--discover) echo '["test:unit"]' ;;\n--describe) printf '%s\\n' '${q(describe)}' ;;\n--build-action) cat >/dev/null; printf '%s\\n' '${q(action)}' ;;\n*) exit 1 ;;\nesac\n`,
        { mode: 0o755 },
      );
      writeFileSync(
        join(r.project, "devflow.toml"),
        `[runtime]\nprofile = "host"\n[targets]\npr = ["test:unit"]\n[extensions.evil]\nsource = "path"\npath = "devflow-ext-evil"\nrequired = true\n`,
      );
      arrange?.(r);
      const res = await dwf(["verify"], r.project);
      if (res.code !== 2) return `exited ${res.code}`;
      if (!res.stderr.includes("extension 'evil'")) return `message does not name the extension: ${res.stderr.trim()}`;
      if (existsSync(join(r.project, "ran")) || existsSync(join(r.victim, "ran"))) return "the action ran";
      return null;
    },
  ];
}

const CONTAINER_PATHS = [
  "/c:ro,z",
  "/",
  "/workspace",
  "/workspace/src",
  "/home/dwf/.cache/x\n/etc",
  "rel/x",
  "/a/../etc",
  "/etc",
  "/proc/self/root",
  "/dev/shm",
];
const ENV_NAMES = ["A=B", "A\nB", "", "1X", "A B", "A-B"];

const attacks: [string, Attack][] = [
  ...CONTAINER_PATHS.map((c) =>
    hostileExtension(`container path ${JSON.stringify(c)}`, {
      api_version: 1,
      cache_mounts: [{ path: "pip", container: c, env: "PIP_CACHE_DIR" }],
    }),
  ),
  ...ENV_NAMES.map((n) => hostileExtension(`--describe env name ${JSON.stringify(n)}`, { api_version: 1, env: { [n]: "x" } })),
  ...ENV_NAMES.map((n) =>
    hostileExtension(`cache-mount env name ${JSON.stringify(n)}`, {
      api_version: 1,
      cache_mounts: [{ path: "pip", container: "/home/dwf/.cache/pip", env: n }],
    }),
  ),
  hostileExtension("cache path ../../..", { api_version: 1, cache_mounts: [{ path: "../../../victim", container: "/c", env: "X" }] }),
  hostileExtension("action cwd through a symlink", { api_version: 1 }, { program: "touch", args: ["ran"], cwd: "sub" }, (r) =>
    symlinkSync(r.victim, join(r.project, "sub")),
  ),
  hostileExtension('fingerprint input "/**"', { api_version: 1, fingerprint_inputs: ["/**"] }, { program: "touch", args: ["ran"] }, (r) => {
    writeFileSync(
      join(r.project, "devflow.toml"),
      readFileSync(join(r.project, "devflow.toml"), "utf8").replace('profile = "host"', 'profile = "container"') + "trusted = true\n",
    );
  }),
  hostileRoot('root = "../victim"', (r) => toml(r, "../victim")),
  hostileRoot('root = "src"', (r) => toml(r, "src")),
  hostileRoot('root = "."', (r) => toml(r, ".")),
  hostileRoot('root = ""', (r) => toml(r, "")),
  hostileRoot('root = "../../../…/etc"', (r) => toml(r, "../".repeat(12) + "etc")),
  hostileRoot('root = "~/x"', (r) => toml(r, "~/x")),
  hostileRoot("symlinked .cache/devflow", (r) => {
    mkdirSync(join(r.project, ".cache"));
    symlinkSync(r.victim, join(r.project, ".cache/devflow"));
    return {};
  }),
  hostileRoot("DWF_CACHE_ROOT=$HOME", (r) => ({ DWF_CACHE_ROOT: r.victim, HOME: r.victim })),
  hostileRoot("DWF_CACHE_ROOT=~/Documents", (r) => ({ DWF_CACHE_ROOT: r.victim })),
  hostileRoot("DWF_CACHE_ROOT=project", (r) => ({ DWF_CACHE_ROOT: r.project })),
  hostileRoot("DWF_CACHE_ROOT=project/src", (r) => ({ DWF_CACHE_ROOT: join(r.project, "src") })),
  hostileRoot("DWF_CACHE_ROOT=/", () => ({ DWF_CACHE_ROOT: "/" })),
  hostileRoot("DWF_CACHE_ROOT=parent of project", (r) => ({ DWF_CACHE_ROOT: r.base })),
  hostileRoot("legacy tag on a user folder", (r) => {
    writeFileSync(join(r.victim, "CACHEDIR.TAG"), LEGACY_TAG);
    rmSync(join(r.victim, "notes.txt"));
    return { DWF_CACHE_ROOT: r.victim };
  }),
  ...(["entry", "stat", "memo"] as const).flatMap((w) =>
    (["fifo", "zero", "sparse"] as const).map((h) => ownFile(`${h} in place of the ${w}`, w, h)),
  ),
  [
    "foreign files inside tasks/",
    async (r) => {
      if ((await dwf(["test:unit"], r.project)).code !== 0) return "setup run failed";
      const tasks = join(r.project, ".cache/devflow/tasks");
      const planted = [join(tasks, "README"), join(tasks, "stat/notes.json"), join(tasks, "zz")];
      writeFileSync(planted[0]!, "x");
      writeFileSync(planted[1]!, "{}");
      mkdirSync(planted[2]!);
      for (const p of planted) utimesSync(p, OLD, OLD);
      const res = await dwf(["cache", "prune", "--all"], r.project);
      if (res.code !== 0) return `prune exited ${res.code}`;
      const gone = planted.filter((p) => !existsSync(p));
      return gone.length ? `prune removed ${gone.join(", ")}` : null;
    },
  ],
];

const tally = new Map<string, { runs: number; failures: number }>();
const failures: string[] = [];
const started = performance.now();
for (let i = 0; i < rounds; i++) {
  const [name, attack] = pick(attacks);
  const r = setup();
  let problem: string | null;
  try {
    problem = await attack(r);
  } catch (e) {
    problem = `threw: ${(e as Error).message}`;
  } finally {
    rmSync(r.base, { recursive: true, force: true });
  }
  const t = tally.get(name) ?? { runs: 0, failures: 0 };
  t.runs++;
  if (problem) {
    t.failures++;
    failures.push(`round ${i} (${name}): ${problem}`);
  }
  tally.set(name, t);
}
const secs = (performance.now() - started) / 1000;
for (const [name, t] of [...tally].sort())
  console.log(`${String(t.runs).padStart(4)} × ${name}${t.failures ? `  FAILED ${t.failures}` : ""}`);
console.log(
  `cache safety: ${rounds} attacks (${tally.size} kinds, seed ${seed}), ${runs} dwf runs in ${secs.toFixed(0)} s, slowest run ${Math.round(slowest)} ms: ${failures.length} failures`,
);
for (const f of failures.slice(0, 20)) console.log(`  ${f}`);
process.exit(failures.length ? 1 : 0);
