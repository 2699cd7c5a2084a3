// Concurrent prunes: K `dwf cache prune --all` at once (K = 2..4) on a cache of 1,000 task
// entries, R rounds. Every prune must exit 0 (files another prune removed first are not
// errors) and the entries must be gone afterwards.
// Usage: bun test/stress/prune-race.ts [--rounds 30]
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binary, cleanChildEnv, flag } from "./_util.ts";

const rounds = Number(flag("--rounds") ?? 30);
const bin = binary();
const dir = mkdtempSync(join(tmpdir(), "dwf-prune-race-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "devflow.toml"), `[project]\nstack = ["custom"]\n\n[targets]\npr = ["lint:static"]\n`);
writeFileSync(join(dir, "Makefile"), "lint-static:\n\t@true\n");
const env = cleanChildEnv();
const run = (args: string[]) => {
  const p = Bun.spawn([bin, ...args], { cwd: dir, env, stdout: "pipe", stderr: "pipe" });
  return Promise.all([p.exited, new Response(p.stderr).text()]);
};

let prunes = 0;
let failures = 0;
let leftovers = 0;
const t0 = performance.now();
for (let r = 0; r < rounds; r++) {
  await run(["lint:static"]);
  const tasks = join(dir, ".cache/devflow/tasks");
  for (let i = 0; i < 1000; i++) {
    const key = Bun.CryptoHasher.hash("sha256", `${r}/${i}`, "hex");
    mkdirSync(join(tasks, key.slice(0, 2)), { recursive: true });
    writeFileSync(
      join(tasks, key.slice(0, 2), `${key}.json`),
      JSON.stringify({ version: 1, key, task: "t@custom", durationMs: 1, output: "", created: "2026-01-01T00:00:00Z" }),
    );
  }
  const k = 2 + (r % 3);
  const results = await Promise.all(Array.from({ length: k }, () => run(["cache", "prune", "--all"])));
  prunes += k;
  for (const [code, err] of results) {
    if (code !== 0) {
      failures++;
      console.log(`round ${r}: prune exited ${code}: ${err.slice(0, 300)}`);
    }
  }
  const left = existsSync(tasks) ? readdirSync(tasks).filter((d) => /^[0-9a-f]{2}$/.test(d)).length : 0;
  leftovers += left;
}
console.log(
  `${rounds} rounds, ${prunes} prunes of 1,000 entries, 2-4 at once: ${failures} failed, ${leftovers} entry folders left; ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);
process.exit(failures || leftovers ? 1 : 0);
