// A run's shared key inputs: what the keys of many tasks are made from, each computed once per
// run (or once per distinct argument) however many tasks ask.
import { join, relative } from "node:path";
import type { Prepared } from "../core/prepare.ts";
import type { RuntimeKind } from "../core/runner.ts";
import { computeFingerprint, stackFingerprintInputs } from "../core/fingerprint.ts";
import { log } from "../lib/log.ts";
import { memo } from "../lib/memo.ts";
import { hashTree, treeDigest, type FileDigests } from "./tree-hash.ts";
import { inheritedKeyEnv, toolIdentity } from "./task-key.ts";

export interface RunInputs {
  /** The inherited part of the key for each kind of run (see inheritedKeyEnv), the same object for every task. */
  inherited: Record<RuntimeKind, Record<string, string>>;
  /** The tree as the run began: hashed once, on the first lookup. */
  tree(): Promise<FileDigests>;
  /** The tree as a task that ended at `endedAt` (performance.now()) left it. */
  treeAfter(endedAt: number): Promise<FileDigests>;
  /** The digest of what a task with these input prefixes sees (undefined: the whole tree). */
  digestOf(files: FileDigests, inputs: string[] | undefined): string;
  imageFingerprint(): Promise<string>;
  stackFingerprint(stack: string): Promise<string>;
  /** Host runs: the identity of the binary a program resolves to (toolIdentity). */
  tool(program: string, cwd: string, pathVar: string): string;
  /** A task's working directory relative to the project root. */
  relativeCwd(cwd: string): string;
}

export function createRunInputs(opts: { cacheRoot: string; prepared: Prepared }): RunInputs {
  const { cacheRoot, prepared } = opts;
  const root = prepared.loaded.root;
  const config = prepared.loaded.config;
  const registry = prepared.registry;
  const inherited = { host: inheritedKeyEnv(process.env, "host"), container: inheritedKeyEnv(process.env, "container") };

  // Hashed once per run, on the first lookup: every task sees the tree as it was when the run began.
  const tree = memo(async (): Promise<FileDigests> => {
    const started = performance.now();
    // Installed dependencies are not sources: what is installed is known from the stack's
    // fingerprint inputs (its lockfile), and hashing a modules folder would cost more than the run.
    const installed = (prepared.dependencies ?? []).flatMap((d) => d.paths.map((p) => join(root, p)));
    const { files, stats } = await hashTree(root, { cacheRoot, exclude: [cacheRoot, ...installed] });
    log.debug(
      `task cache: hashed ${stats.listed} files (${stats.read} read, ${stats.reused} unchanged${stats.readOnWorker ? `, ${stats.readOnWorker} on a second thread` : ""}${stats.listReused ? ", git listing reused" : ""}) in ${Math.round(performance.now() - started)}ms`,
    );
    return files;
  });
  // The tree again, after a task: a hash started after the task ended shows what the task left,
  // so tasks that end while one is under way wait for the next; one hash serves all that ended before it.
  let rehash: { started: number; files: Promise<FileDigests> } | undefined;
  const treeAfter = (endedAt: number): Promise<FileDigests> => {
    if (rehash && rehash.started >= endedAt) return rehash.files;
    const started = performance.now();
    const files = hashTree(root, { cacheRoot, exclude: [cacheRoot] }).then((r) => r.files);
    rehash = { started, files };
    return files;
  };
  // Most tasks see the whole tree: one digest per distinct set of input prefixes.
  const digests = new Map<string, string>();
  const digestOf = (files: FileDigests, inputs: string[] | undefined) => {
    const id = inputs ? JSON.stringify(inputs) : "";
    let d = digests.get(id);
    if (d === undefined) digests.set(id, (d = treeDigest(files, inputs)));
    return d;
  };
  const imageFingerprint = memo(async () => (await prepared.fingerprint()).hash);
  // A stack's fingerprint never needs the Dockerfile: host runs do not read it at all.
  const stackInputs = memo(() => stackFingerprintInputs(registry, config, root));
  const stackFingerprints = new Map<string, Promise<string>>();
  const stackFingerprint = (stack: string) => {
    let p = stackFingerprints.get(stack);
    if (!p) {
      p = stackInputs().then((all) => {
        const mine = new Map([...all].filter(([, from]) => from.includes(stack) || from.includes("config")));
        return computeFingerprint(root, mine).then((f) => f.hash);
      });
      stackFingerprints.set(stack, p);
    }
    return p;
  };

  // Many tasks run the same program: resolve and stat it once per run.
  const tools = new Map<string, string>();
  const tool = (program: string, cwd: string, pathVar: string): string => {
    const id = `${program}\0${cwd}\0${pathVar}`;
    let v = tools.get(id);
    if (v === undefined) tools.set(id, (v = toolIdentity(program, cwd, pathVar)));
    return v;
  };

  const cwds = new Map<string, string>();
  const relativeCwd = (cwd: string) => {
    let rel = cwds.get(cwd);
    if (rel === undefined) cwds.set(cwd, (rel = relative(root, cwd)));
    return rel;
  };

  return { inherited, tree, treeAfter, digestOf, imageFingerprint, stackFingerprint, tool, relativeCwd };
}
