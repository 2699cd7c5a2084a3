// Under the container profile, extensions' `which()` answers from the image, not the host:
// the names they ask are collected while actions are built, looked up in the image with one
// `engine run … sh -c 'command -v …'`, and remembered per image fingerprint
// (image-state.ts), so later runs ask the engine nothing. The run flow builds the actions
// again once the answers are in (run-tasks.ts), so the argv a task gets is the argv the
// image can run, whatever the host's PATH holds.
import { isAbsolute, join } from "node:path";
import { isExecutable } from "../lib/process.ts";
import type { SharedToolAnswers, ToolProbe } from "../core/runner.ts";
import { engineCommand, inspectArgv, type Engine } from "./engine.ts";
import { readImageState, updateImageState } from "./image-state.ts";
import { log } from "../lib/log.ts";

/**
 * Prints `name<TAB>path` for each argument found, `name<TAB>` for each missing. Fixed text:
 * names arrive only as positional parameters.
 */
export const PROBE_SCRIPT =
  'for p do if c=$(command -v "$p" 2>/dev/null); then printf "%s\\t%s\\n" "$p" "$c"; else printf "%s\\t\\n" "$p"; fi; done';

const PROBE_TIMEOUT_MS = 60_000;

interface ProbeTarget {
  /** `<name>:<fingerprint>` */
  ref: string;
  fingerprint: string;
  cacheRoot: string;
  /** Host project root: names with a '/' but relative are workspace files, the same on both sides. */
  root: string;
  env?: Record<string, string | undefined>;
  /** Answers other machines found in this image (the remote cache): asked first, and told what the image answered. */
  shared?: SharedToolAnswers;
  /**
   * The engine, and the flags placing the probe where a task runs (user mapping, the container's
   * name). Asked only when a name is not remembered: `ifPresent` (a dry run) wants the engine
   * only; otherwise the image must exist once this resolves.
   */
  engine(opts: { ifPresent: boolean }): Promise<{ engine: Engine; runArgs: string[] }>;
}

/** The engine argv for one probe run. Pure. */
export function probeArgv(target: { engine: Engine; ref: string; runArgs: string[] }, names: string[]): string[] {
  return [target.engine.path, "run", "--rm", ...target.runArgs, target.ref, "sh", "-c", PROBE_SCRIPT, "dwf-probe", ...names];
}

/** `name<TAB>path` lines → answers; names the output does not mention are missing. */
export function parseProbeOutput(text: string, names: string[]): Record<string, string | null> {
  const found: Record<string, string | null> = Object.fromEntries(names.map((n) => [n, null]));
  for (const line of text.split("\n")) {
    const tab = line.indexOf("\t");
    if (tab < 0) continue;
    const name = line.slice(0, tab);
    const path = line.slice(tab + 1).trim();
    if (Object.hasOwn(found, name)) found[name] = path || null;
  }
  return found;
}

async function imageExists(engine: Engine, ref: string): Promise<boolean> {
  return (await engineCommand(inspectArgv(engine, ref), { timeoutMs: 30_000 })).code === 0;
}

export function createToolProbe(target: ProbeTarget): ToolProbe {
  const known = new Map(Object.entries(readImageState(target.cacheRoot, target.ref, target.fingerprint).tools));
  const waiting = new Set<string>();
  // Asked once per run: the image's shared answers do not change between rounds.
  let shared: Promise<Record<string, string | null> | undefined> | undefined;
  const sharedAnswers = () => (shared ??= target.shared?.get(target.ref).catch(() => undefined) ?? Promise.resolve(undefined));
  return {
    which(program) {
      // `./tool`, `bin/tool`: a file in the workspace, which the container sees at /workspace.
      if (program.includes("/") && !isAbsolute(program)) return isExecutable(join(target.root, program)) ? program : null;
      const answer = known.get(program);
      if (answer !== undefined) return answer;
      waiting.add(program);
      return null;
    },
    pending: () => [...waiting],
    settled: () => waiting.size === 0,
    async probe(opts = {}) {
      const names = [...waiting];
      if (names.length === 0) return true;
      // What another machine found in this very image: no engine, no image needed.
      const remote = await sharedAnswers();
      if (remote && names.every((n) => Object.hasOwn(remote, n))) {
        const found = Object.fromEntries(names.map((n) => [n, remote[n]!]));
        log.debug(`tools: ${names.join(", ")} in ${target.ref}: as the remote cache has them`);
        for (const [n, p] of Object.entries(found)) known.set(n, p);
        waiting.clear();
        updateImageState(target.cacheRoot, target.ref, target.fingerprint, (s) => Object.assign(s.tools, found));
        return true;
      }
      const ifPresent = opts.ifPresent === true;
      const { engine, runArgs } = await target.engine({ ifPresent });
      if (ifPresent && !(await imageExists(engine, target.ref))) return false;
      log.debug(`tools: looking up ${names.join(", ")} in ${target.ref}`);
      const r = await engineCommand(probeArgv({ engine, ref: target.ref, runArgs }, names), {
        timeoutMs: PROBE_TIMEOUT_MS,
        env: target.env,
      });
      if (r.code !== 0) {
        // Not remembered: a transient engine failure must not fix wrong answers for good.
        const detail = (r.stderr.trim().split("\n").pop() ?? "").trim() || `exit code ${r.code}`;
        log.warn(
          `could not look up ${names.join(", ")} inside ${target.ref} (${detail}); commands that depend on them assume the image lacks them.`,
        );
        for (const n of names) known.set(n, null);
        waiting.clear();
        return true;
      }
      const found = parseProbeOutput(r.stdout, names);
      for (const [n, p] of Object.entries(found)) known.set(n, p);
      waiting.clear();
      updateImageState(target.cacheRoot, target.ref, target.fingerprint, (s) => Object.assign(s.tools, found));
      // Every answer known for this image, for the next machine (kept by a read-write remote cache only).
      await target.shared?.put(target.ref, { ...remote, ...Object.fromEntries(known) }).catch(() => {});
      return true;
    },
  };
}
