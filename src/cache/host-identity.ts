// Host tasks with a pinned tool: a portable identity instead of this machine's binary. When a
// stack pins the tool to an exact version and the tool reports it, the key names the pin, the
// cache folders by a name every machine shares and the inherited env without this machine's
// variables, so the result can be shared.
import { relative } from "node:path";
import type { PreparedTask } from "../core/prepare.ts";
import type { RuntimeKind } from "../core/runner.ts";
import type { Registry } from "../core/registry.ts";
import { stackCacheMounts } from "../core/cache-root.ts";
import { resolveProgram } from "../lib/process.ts";
import { log } from "../lib/log.ts";
import { memo } from "../lib/memo.ts";
import type { ToolPin } from "../sdk/types.ts";
import { EXACT_VERSION, portableInheritedEnv, reportsVersion } from "./task-key.ts";

interface HostIdentity {
  /** The pins with what the tool reports, when every pin is exact and matches. */
  portable?: string;
  why: string;
}

export interface HostIdentities {
  /** Find these tasks' tool identities (host keys only), before their keys are made. */
  identifyHost(tasks: PreparedTask[], kind: RuntimeKind): Promise<void>;
  /** A task's identity, once identifyHost has seen it. */
  identity(taskId: string): HostIdentity | undefined;
  /** Host cache folders by a name that is the same on every machine, once identifyHost has run. */
  portableMounts(): Map<string, string> | undefined;
  /** The inherited part of a pinned host task's portable key. */
  portableInherited: Record<string, string>;
}

export function createHostIdentities(opts: {
  cacheRoot: string;
  root: string;
  registry: Registry;
  /** The inherited part of a host task's key (inheritedKeyEnv). */
  inheritedHost: Record<string, string>;
}): HostIdentities {
  const { cacheRoot, root, registry } = opts;
  const pinned = new Map<string, Promise<HostIdentity>>();
  const hostIdentity = (t: PreparedTask): Promise<HostIdentity> => {
    const program = t.action!.program;
    const pathVar = t.env.PATH ?? process.env.PATH ?? "";
    const id = `${t.stack.name}\0${program}\0${t.cwd}\0${pathVar}`;
    let p = pinned.get(id);
    if (!p) pinned.set(id, (p = identify(t, program, pathVar)));
    return p;
  };
  const identify = async (t: PreparedTask, program: string, pathVar: string): Promise<HostIdentity> => {
    const found = resolveProgram(program, t.cwd, pathVar);
    const shown = found ?? program;
    let pins: ToolPin[] = [];
    try {
      pins = t.stack.ext.toolPins?.(program, registry.ctx) ?? [];
    } catch (e) {
      log.debug(`task cache: ${t.stack.name}: toolPins failed: ${(e as Error).message}`);
    }
    if (pins.length === 0) return { why: `host tool ${shown} is not pinned` };
    if (!found) return { why: `host tool ${program} is not on PATH` };
    const inexact = pins.find((p) => !EXACT_VERSION.test(p.version));
    if (inexact) return { why: `host tool ${shown} is pinned by ${inexact.file} to '${inexact.version}', not an exact version` };
    const { callBounded } = await import("../lib/process.ts");
    const reports = await Promise.all(
      pins.map(async (pin) => {
        try {
          const r = await callBounded(pin.probe, { cwd: root, timeoutMs: 15_000, maxBytes: 64 * 1024, env: { ...process.env, ...t.env } });
          if (r.exitCode !== 0) return undefined;
          const lines = `${r.stdout}\n${r.stderr}`
            .split("\n")
            .map((l) => l.trim())
            .filter(Boolean);
          return (lines.find((l) => reportsVersion(l, pin.version)) ?? lines[0])?.slice(0, 200);
        } catch {
          return undefined;
        }
      }),
    );
    for (const [i, pin] of pins.entries()) {
      const got = reports[i];
      if (got === undefined)
        return { why: `host tool ${shown}: '${pin.probe.join(" ")}' did not report a version (${pin.file} pins ${pin.version})` };
      if (!reportsVersion(got, pin.version)) return { why: `host tool ${shown} reports '${got}', ${pin.file} pins ${pin.version}` };
    }
    return {
      portable: JSON.stringify(pins.map((pin, i) => [pin.file, pin.version, reports[i]])),
      why: `host tool pinned by ${pins.map((pin) => `${pin.file} (${pin.version})`).join(" and ")}`,
    };
  };
  const identities = new Map<string, HostIdentity>();
  /** Host cache folders by a name that is the same on every machine (`$DWF_CACHE_ROOT/<stack>/<path>`). */
  const hostMounts = memo(
    async () =>
      new Map((await stackCacheMounts(registry, cacheRoot)).map(({ host }) => [host, `$DWF_CACHE_ROOT/${relative(cacheRoot, host)}`])),
  );
  let portableMounts: Map<string, string> | undefined;
  const portableInherited = portableInheritedEnv(
    opts.inheritedHost,
    registry.stacks.flatMap((st) => st.ext.machineEnv ?? []),
  );
  /** Before keyOf for host keys: each task's tool identity (pins are probed once per tool). */
  const identifyHost = async (tasks: PreparedTask[], kind: RuntimeKind) => {
    if (kind !== "host" || tasks.every((t) => identities.has(t.task.id))) return;
    portableMounts ??= await hostMounts();
    await Promise.all(tasks.map(async (t) => identities.set(t.task.id, await hostIdentity(t))));
  };
  return {
    identifyHost,
    identity: (taskId) => identities.get(taskId),
    portableMounts: () => portableMounts,
    portableInherited,
  };
}
