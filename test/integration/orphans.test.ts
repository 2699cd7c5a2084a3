// Tasks cannot outlive their run: a grandchild that leaves the task's process group with setsid
// is stopped when its task ends, on Ctrl-C, and — after dwf itself is killed with -9 — by the next
// run. Real processes: make, sh, setsid and sleep, through the compiled binary.
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanEnv, dwfBinary, fixture, runDwf } from "../support/dwf.ts";

setDefaultTimeout(60_000);
const linux = process.platform === "linux";

/** Pids the tasks wrote, killed after each test whatever happened (the test's own cleanup). */
const started: number[] = [];
const scratch: string[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
  for (const d of scratch.splice(0)) rmSync(d, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

async function goneWithin(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > end) return false;
    await Bun.sleep(20);
  }
  return true;
}

async function waitFor(path: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!existsSync(path) || readFileSync(path, "utf8").trim() === "") {
    if (Date.now() > end) throw new Error(`${path} did not appear`);
    await Bun.sleep(20);
  }
}

/** Pids listed in a file the task wrote (one per line), remembered for cleanup. */
function pidsIn(path: string): number[] {
  const pids = readFileSync(path, "utf8").split(/\s+/).filter(Boolean).map(Number);
  started.push(...pids);
  return pids;
}

/**
 * test:unit starts a daemon that leaves the group (setsid) and writes its pid to $PIDS, then
 * either finishes (`hold` false) or keeps running itself (its pid goes to $PIDS too).
 */
function project(hold: boolean) {
  const out = mkdtempSync(join(tmpdir(), "dwf-orphans-"));
  scratch.push(out);
  const daemon = `setsid sh -c 'echo $$$$ >> "$$PIDS"; exec sleep 300' >/dev/null 2>&1 </dev/null &`;
  const recipe = hold ? `@${daemon} echo $$$$ >> "$$PIDS"; exec sleep 300` : `@${daemon} sleep 0.5; echo daemon started`;
  const dir = fixture({
    "devflow.toml": `[project]\nstack = ["custom"]\n\n[targets]\npr = ["test:unit"]\n`,
    Makefile: `test-unit:\n\t${recipe}\n`,
  });
  return { dir, pids: join(out, "pids") };
}

describe.skipIf(!linux)("tasks cannot outlive their run", () => {
  test("a setsid daemon a passing task started is stopped when the task ends", async () => {
    const p = project(false);
    const r = await runDwf(["verify", "--no-cache"], { cwd: p.dir, env: { PIDS: p.pids } });
    expect(r.code).toBe(0);
    expect(r.all).toContain("1 passed");
    const [daemon] = pidsIn(p.pids);
    expect(daemon).toBeGreaterThan(0);
    expect(await goneWithin(daemon!, 2000)).toBe(true);
  });

  test("Ctrl-C stops the task and the daemon that left its group", async () => {
    const p = project(true);
    const proc = Bun.spawn([dwfBinary(), "verify", "--no-cache"], {
      cwd: p.dir,
      env: cleanEnv({ PIDS: p.pids }),
      stdout: "pipe",
      stderr: "pipe",
    });
    await waitFor(p.pids);
    while (pidsIn(p.pids).length < 2) await Bun.sleep(20);
    proc.kill("SIGINT");
    expect(await proc.exited).toBe(130);
    for (const pid of pidsIn(p.pids)) expect(await goneWithin(pid, 2000)).toBe(true);
  });

  test("after kill -9 of dwf, the next run stops the process trees it left and drops its record", async () => {
    const p = project(true);
    const proc = Bun.spawn([dwfBinary(), "verify", "--no-cache"], {
      cwd: p.dir,
      env: cleanEnv({ PIDS: p.pids }),
      stdout: "ignore",
      stderr: "ignore",
    });
    await waitFor(p.pids);
    let pids = pidsIn(p.pids);
    while (pids.length < 2) {
      await Bun.sleep(20);
      pids = pidsIn(p.pids);
    }
    const runs = join(p.dir, ".cache/devflow/runs");
    expect(readdirSync(runs).length).toBe(1);
    proc.kill("SIGKILL");
    await proc.exited;
    await Bun.sleep(200);
    // Nothing stopped them: dwf was killed before it could.
    for (const pid of pids) expect(alive(pid)).toBe(true);

    const next = await runDwf(["lint:static", "--no-cache"], { cwd: p.dir, env: { PIDS: join(p.pids, "..", "unused") } });
    // The custom stack has no lint target: what matters is that the run started.
    expect(next.all).toContain("left running by an earlier dwf run that was killed");
    for (const pid of pids) expect(await goneWithin(pid, 2000)).toBe(true);
    expect(readdirSync(runs)).toEqual([]);
  });
});
