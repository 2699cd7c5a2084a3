// Planning: profile commands × applicable stacks → tasks with dependency edges.
// Pure over plain data: the registry has already asked every extension what it can do.
import type { ActionResult, CommandRef } from "./types.ts";
import { formatRef, isMutating, parseCommandRef } from "./command-ref.ts";
import { UserError } from "./errors.ts";
import { didYouMean } from "./suggest.ts";

export interface PlannedStack {
  name: string;
  capabilities: string[];
}

export interface Task {
  /** Stable id, `<primary>:<selector>@<stack>`. */
  id: string;
  ref: CommandRef;
  stack: string;
  deps: string[];
  /** Runs alone within its stack (fix-style commands that rewrite files). */
  exclusive: boolean;
  /** Why dwf added this task itself (an install: "<path> missing", "<lockfile> changed"). */
  reason?: string;
  /** Filled in by the action resolver. */
  action?: ActionResult;
}

export interface Plan {
  /** The command(s) the user asked for, after profile expansion. */
  commands: CommandRef[];
  tasks: Task[];
}

/** Capability lists as sets, built once per list: plans ask about every command × stack. */
const capabilitySets = new WeakMap<readonly string[], Set<string>>();

export function capabilitySet(capabilities: readonly string[]): Set<string> {
  let set = capabilitySets.get(capabilities);
  if (!set) capabilitySets.set(capabilities, (set = new Set(capabilities)));
  return set;
}

export function supports(capabilities: readonly string[], ref: CommandRef): boolean {
  const set = capabilitySet(capabilities);
  return set.has(ref.primary) || set.has(formatRef(ref));
}

/** Expand `check:<profile>` references recursively; other commands pass through. */
export function expandCommands(
  requested: CommandRef[],
  targets: Record<string, string[]>,
  file: string,
  seen: string[] = [],
): CommandRef[] {
  const out: CommandRef[] = [];
  const have = new Set<string>();
  const add = (ref: CommandRef) => {
    const key = formatRef(ref);
    if (!have.has(key)) {
      have.add(key);
      out.push(ref);
    }
  };
  for (const ref of requested) {
    if (ref.primary !== "check") {
      add(ref);
      continue;
    }
    const profile = ref.selector;
    if (seen.includes(profile)) {
      throw new UserError(`${file}: targets.${profile}: profiles include each other in a cycle (${[...seen, profile].join(" -> ")}).`);
    }
    const list = targets[profile];
    if (!list) {
      const names = Object.keys(targets);
      throw new UserError(
        `no profile '${profile}' under [targets] in ${file}.${didYouMean(profile, names)}`,
        names.length ? `Defined profiles: ${names.join(", ")}.` : `Add one, e.g. ${profile} = ["fmt:check", "lint:static", "test:unit"].`,
      );
    }
    const refs = list.map((raw, i) => parseCommandRef(raw, `${file}: targets.${profile}[${i}]`));
    for (const r of expandCommands(refs, targets, file, [...seen, profile])) add(r);
  }
  return out;
}

/** No enabled stack provides a command: where it was asked for, and the command as shown there. */
export function notRunnable(where: string, shown: string, stacks: PlannedStack[]): UserError {
  const names = stacks.map((s) => s.name);
  return new UserError(
    `${where}: no enabled extension can run '${shown}' (stacks: ${names.length ? names.join(", ") : "none detected"}).`,
    names.length
      ? "Remove it from the profile, or enable an extension that provides it under [extensions.<name>]."
      : "Add a manifest for your stack, set [project] stack = [...], or configure an external extension.",
  );
}

const PHASE: Record<string, number> = { setup: 0, fmt: 1, lint: 1, build: 1, test: 2, package: 3, release: 4 };

/**
 * Build the task graph. Within a stack: setup runs first, build before test/package/release,
 * and a mutating task (fmt:fix, …) is ordered against every other task of its stack.
 */
export function buildPlan(commands: CommandRef[], stacks: PlannedStack[], where: (ref: CommandRef) => string): Plan {
  const tasks: Task[] = [];
  for (const ref of commands) {
    const able = stacks.filter((s) => supports(s.capabilities, ref));
    if (able.length === 0) throw notRunnable(where(ref), formatRef(ref), stacks);
    for (const s of able) {
      tasks.push({ id: `${formatRef(ref)}@${s.name}`, ref, stack: s.name, deps: [], exclusive: isMutating(ref) && ref.primary !== "package" });
    }
  }
  for (let ti = 0; ti < tasks.length; ti++) {
    const t = tasks[ti]!;
    const phaseT = PHASE[t.ref.primary] ?? 2;
    const afterBuild = t.ref.primary === "test" || t.ref.primary === "package" || t.ref.primary === "release";
    for (let oi = 0; oi < tasks.length; oi++) {
      const o = tasks[oi]!;
      if (oi === ti || o.stack !== t.stack) continue;
      const before = oi < ti;
      const phaseO = PHASE[o.ref.primary] ?? 2;
      const build = o.ref.primary === "build" && afterBuild;
      const setup = o.ref.primary === "setup" && t.ref.primary !== "setup";
      const exclusive = (t.exclusive || o.exclusive) && before && phaseO <= phaseT;
      const exclusiveLater = (t.exclusive || o.exclusive) && !before && phaseO < phaseT;
      if (setup || build || exclusive || exclusiveLater) t.deps.push(o.id);
    }
  }
  assertAcyclic(tasks);
  return { commands, tasks };
}

function assertAcyclic(tasks: Task[]): void {
  const state = new Map<string, number>();
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const visit = (id: string): void => {
    const s = state.get(id);
    if (s === 2) return;
    if (s === 1) throw new Error(`internal: task graph has a cycle at ${id}`);
    state.set(id, 1);
    for (const d of byId.get(id)?.deps ?? []) visit(d);
    state.set(id, 2);
  };
  for (const t of tasks) visit(t.id);
}

/** Topological order for display (dry-run): deps first, then profile order. */
export function executionOrder(plan: Plan): Task[] {
  const done = new Set<string>();
  const out: Task[] = [];
  while (out.length < plan.tasks.length) {
    const next = plan.tasks.filter((t) => !done.has(t.id) && t.deps.every((d) => done.has(d)));
    for (const t of next) done.add(t.id);
    out.push(...next);
    if (next.length === 0) break;
  }
  return out;
}
