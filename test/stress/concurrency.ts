// Concurrency: K `dwf verify --json` runs at once on one tree (K = 2 and 4), R rounds each.
// Rounds alternate a passing and a failing source, so a result cached by a neighbour run under
// the wrong key would show up as a wrong answer. After every round each cache file must parse.
// Usage: bun test/stress/concurrency.ts [--rounds 50]
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binary, cleanChildEnv, flag } from "./_util.ts";

const rounds = Number(flag("--rounds") ?? 50);
const bin = binary();

const MAKEFILE = `fmt-check:\n\t@grep -q fmt src.txt && echo fmt ok\nlint-static:\n\t@grep -q good src.txt && echo lint ok\nbuild-debug:\n\t@cat src.txt > /dev/null && echo built\ntest-unit:\n\t@grep -q good src.txt\n`;

/** Every file under <cache>/tasks must be complete JSON: a torn write would fail to parse. */
function unreadable(cacheRoot: string): string[] {
  const dir = join(cacheRoot, "tasks");
  if (!existsSync(dir)) return [];
  const bad: string[] = [];
  for (const d of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!d.isFile()) continue;
    const path = join(d.parentPath, d.name);
    try {
      if (path.endsWith(".json")) JSON.parse(readFileSync(path, "utf8"));
      else if (!d.name.includes(".tmp")) bad.push(`${path} (not .json)`);
    } catch {
      bad.push(path);
    }
  }
  return bad;
}

async function verify(dir: string, cacheRoot: string): Promise<{ code: number; doc: any; stderr: string }> {
  const p = Bun.spawn([bin, "verify", "--json", "--jobs", "2"], {
    cwd: dir,
    env: cleanChildEnv({ DWF_CACHE_ROOT: cacheRoot, DWF_PROFILE: "host" }),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, stderr] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  let doc: any = null;
  try {
    doc = JSON.parse(out);
  } catch {}
  return { code, doc, stderr };
}

async function series(k: number): Promise<{ runs: number; wrong: number; unreadable: number; cached: number; secs: number }> {
  const dir = mkdtempSync(join(tmpdir(), `dwf-conc${k}-`));
  const cacheRoot = join(dir, ".cache/devflow");
  writeFileSync(join(dir, "Makefile"), MAKEFILE);
  writeFileSync(
    join(dir, "devflow.toml"),
    `[project]\nstack = ["custom"]\n\n[targets]\npr = ["fmt:check", "lint:static", "build:debug", "test:unit"]\n`,
  );
  let runs = 0;
  let wrong = 0;
  let broken = 0;
  let cached = 0;
  const started = performance.now();
  for (let r = 0; r < rounds; r++) {
    // Three states cycle: good, bad (lint + test fail), good again with other bytes.
    const state = r % 3;
    const good = state !== 1;
    writeFileSync(join(dir, "src.txt"), good ? `fmt good ${state}\n` : "fmt bad\n");
    const results = await Promise.all(Array.from({ length: k }, () => verify(dir, cacheRoot)));
    for (const res of results) {
      runs++;
      const statuses = Object.fromEntries(
        ((res.doc?.tasks ?? []) as { id: string; status: string }[]).map((t) => [t.id.split("@")[0], t.status]),
      );
      const passedLike = (s: string | undefined) => s === "passed" || s === "cached";
      const right = good
        ? res.code === 0 && ["fmt:check", "lint:static", "build:debug", "test:unit"].every((t) => passedLike(statuses[t]))
        : res.code === 1 && statuses["lint:static"] === "failed" && statuses["test:unit"] === "failed" && passedLike(statuses["fmt:check"]);
      cached += Object.values(statuses).filter((s) => s === "cached").length;
      if (!right) {
        wrong++;
        console.log(`WRONG k=${k} round=${r} good=${good}: exit ${res.code} ${JSON.stringify(statuses)} ${res.stderr.slice(0, 300)}`);
      }
    }
    const bad = unreadable(cacheRoot);
    broken += bad.length;
    if (bad.length) console.log(`UNREADABLE k=${k} round=${r}: ${bad.join(", ")}`);
  }
  rmSync(dir, { recursive: true, force: true });
  return { runs, wrong, unreadable: broken, cached, secs: (performance.now() - started) / 1000 };
}

let failed = false;
for (const k of [2, 4]) {
  const s = await series(k);
  failed ||= s.wrong > 0 || s.unreadable > 0;
  console.log(
    `${k} at once x ${rounds} rounds: ${s.runs} runs, ${s.wrong} wrong results, ${s.unreadable} unreadable cache files, ${s.cached} task results replayed from cache, ${s.secs.toFixed(1)} s`,
  );
}
process.exit(failed ? 1 : 0);
