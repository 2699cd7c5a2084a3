// Emulated CI wall time for the Rust workspace fixture (test/support/ci-fixtures.ts: fmt, clippy,
// build, unit and integration tests), through
// the GitHub-runner emulator: a cold run (empty registry, caching off: every job compiles
// everything, the image is built) against a warm run (image in the registry, the warm cache
// restored), and the sum of the verify jobs' times in each. It needs the test support (real
// registry, podman, the freshly built dwf), so it runs under the test runner:
//
//   bun test ./bench/ci.ts
import { afterAll, beforeAll, expect, test } from "bun:test";
import { ciRepo, describeRun, startCiLab, type CiLab } from "../test/support/ci-lab.ts";
import { toolchainImage } from "../test/support/images.ts";
import { RUST_TARGETS, RUST_VERIFY_JOBS, ciDevflow, rustWorkspace } from "../test/support/ci-fixtures.ts";
import type { RunResult } from "../test/support/gha-emulator.ts";

let lab: CiLab;
beforeAll(async () => {
  lab = await startCiLab();
}, 600_000);
afterAll(async () => {
  await lab?.stop();
});

const VERIFY = RUST_VERIFY_JOBS;
const verifyMs = (r: RunResult) => VERIFY.reduce((sum, id) => sum + r.jobs[id]!.ms, 0);

function green(r: RunResult): RunResult {
  if (!Object.values(r.jobs).every((j) => j.result !== "failure")) throw new Error(describeRun(r));
  return r;
}

test("emulated CI: cold vs warm, Rust workspace", async () => {
  const image = await toolchainImage("rust");
  const runs = Number(process.env.BENCH_RUNS ?? 2);
  const cold: RunResult[] = [];
  const warm: RunResult[] = [];
  for (let i = 0; i < runs; i++) {
    // Cold: a repository this registry has never seen (new image name), no Actions cache.
    const name = `bench${i}`;
    const files = rustWorkspace(image, ciDevflow({ name, registry: lab.registry.host, targets: RUST_TARGETS }));
    const coldRunner = { ...lab.runner(), noCache: true };
    const coldRepo = await ciRepo(lab, files, coldRunner);
    cold.push(green(await coldRepo.run("push", "main")));
    // Warm: the same repository with caching on; the first run fills the cache, the second is measured.
    const runner = lab.runner();
    const repo = await ciRepo(lab, files, runner);
    green(await repo.run("push", "main"));
    warm.push(green(await repo.run("push", "main")));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const coldWall = median(cold.map((r) => r.ms));
  const warmWall = median(warm.map((r) => r.ms));
  const coldVerify = median(cold.map(verifyMs));
  const warmVerify = median(warm.map(verifyMs));
  const row = (what: string, c: number, w: number) =>
    console.log(
      `${what.padEnd(34)} cold ${(c / 1000).toFixed(1).padStart(6)} s   warm ${(w / 1000).toFixed(1).padStart(6)} s   ${(c / w).toFixed(2)}x`,
    );
  console.log(`\nemulated CI, Rust workspace (median of ${runs}; jobs two at a time)`);
  row("workflow wall time", coldWall, warmWall);
  row(`verify jobs, summed (${VERIFY.join(", ")})`, coldVerify, warmVerify);
  for (const id of ["image", "warm", ...VERIFY])
    row(`  ${id}`, median(cold.map((r) => r.jobs[id]!.ms)), median(warm.map((r) => r.jobs[id]!.ms)));
  expect(warmVerify).toBeLessThan(coldVerify);
}, 3_600_000);
