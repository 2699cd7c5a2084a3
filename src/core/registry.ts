// Which extensions are active for a project: builtin stacks that are declared or detected,
// plus external `devflow-ext-*` executables, with capability overrides from devflow.toml.
import type { Extension, ExtensionContext } from "../sdk/types.ts";
import type { ExtensionConfig, LoadedConfig } from "./config.ts";
import { UserError } from "../lib/errors.ts";
import { didYouMean } from "../lib/suggest.ts";
import { log } from "../lib/log.ts";

export interface ActiveStack {
  name: string;
  ext: Extension;
  capabilities: string[];
  /** How it became active, for --dry-run and doctor. */
  reason: "declared" | "detected" | "configured";
  external: boolean;
  config?: ExtensionConfig;
}

/**
 * Where extensions come from, handed in by the CLI: the builtin stacks, and the loader of an
 * external `devflow-ext-*` (the JSON/stdio protocol), asked only for projects that use one.
 */
export interface ExtensionSource {
  builtins: readonly Extension[];
  loadExternal(name: string, config: ExtensionConfig, ctx: ExtensionContext, opts: { file: string; profile?: string }): Promise<Extension>;
}

export interface Registry {
  stacks: ActiveStack[];
  ctx: ExtensionContext;
  /** Extensions that failed to load and were skipped (not required). */
  warnings: string[];
  /**
   * Folder names this dwf's stacks use in a cache root, active or not (the builtins handed in,
   * then the active stacks): what an earlier dwf may have made there (core/cache-root.ts).
   */
  cacheGroups: string[];
}

export async function resolveRegistry(
  loaded: LoadedConfig,
  ctx: ExtensionContext,
  opts: { profile?: string; source: ExtensionSource },
): Promise<Registry> {
  const builtinExtensions = opts.source.builtins;
  const file = loaded.path ?? "devflow.toml";
  const cfgExt = loaded.config.extensions ?? {};
  const declared = loaded.config.project?.stack;
  const warnings: string[] = [];
  const builtinNames = builtinExtensions.map((e) => e.name);
  const chosen: { name: string; ext: Extension; reason: ActiveStack["reason"]; external: boolean; config?: ExtensionConfig }[] = [];

  const externalNames = Object.entries(cfgExt)
    .filter(([, c]) => c.source === "path")
    .map(([n]) => n);

  if (declared) {
    declared.forEach((name, i) => {
      if (cfgExt[name]?.enabled === false) {
        throw new UserError(
          `${file}: project.stack[${i}] lists '${name}', but extensions.${name}.enabled = false.`,
          `Remove '${name}' from [project] stack, or drop 'enabled = false'.`,
        );
      }
      const ext = builtinExtensions.find((e) => e.name === name);
      if (ext) chosen.push({ name, ext, reason: "declared", external: false, config: cfgExt[name] });
      else if (!externalNames.includes(name) && !ctx.which(`devflow-ext-${name}`)) {
        throw new UserError(
          `${file}: project.stack[${i}]: unknown stack '${name}'.${didYouMean(name, builtinNames)}`,
          `Builtin stacks: ${builtinNames.join(", ")}. For another stack, configure [extensions.${name}] source = "path" or put devflow-ext-${name} on PATH.`,
        );
      }
    });
  } else {
    for (const ext of builtinExtensions) {
      if (cfgExt[ext.name]?.enabled === false) continue;
      if (await ext.detect(ctx)) chosen.push({ name: ext.name, ext, reason: "detected", external: false, config: cfgExt[ext.name] });
    }
  }
  for (const [name, c] of Object.entries(cfgExt)) {
    if (c.enabled === false || chosen.some((s) => s.name === name)) continue;
    if (c.source === "builtin" || c.source === undefined) {
      const ext = builtinExtensions.find((e) => e.name === name);
      if (!ext) {
        throw new UserError(
          `${file}: extensions.${name}: no builtin extension '${name}'.${didYouMean(name, builtinNames)}`,
          `Builtin extensions: ${builtinNames.join(", ")}. For your own, set source = "path" and path = "…".`,
        );
      }
      if (c.required || (await ext.detect(ctx))) chosen.push({ name, ext, reason: "configured", external: false, config: c });
    }
  }
  // External extensions: configured with source = "path", or declared stacks found on PATH.
  const externals = new Set<string>(externalNames.filter((n) => cfgExt[n]?.enabled !== false));
  for (const name of declared ?? []) if (!builtinNames.includes(name)) externals.add(name);
  for (const name of externals) {
    const c = cfgExt[name] ?? {};
    try {
      const ext = await opts.source.loadExternal(name, c, ctx, { file, profile: opts.profile });
      chosen.push({ name, ext, reason: "configured", external: true, config: c });
    } catch (e) {
      if (c.required || !(e instanceof UserError)) throw e;
      warnings.push(e.message);
      log.warn(`${e.message} Skipping extension '${name}' (set required = true to make this fatal).`);
    }
  }

  const stacks: ActiveStack[] = [];
  for (const s of chosen) {
    const override = s.config?.capabilities;
    const capabilities = override && override.length ? override : await s.ext.capabilities(ctx);
    stacks.push({ ...s, capabilities });
  }
  const cacheGroups = [...new Set([...builtinExtensions.map((e) => e.name), ...stacks.map((s) => s.name)])];
  return { stacks, ctx, warnings, cacheGroups };
}
