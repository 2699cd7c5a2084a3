// The data that crosses the core/extension boundary. Plain JSON shapes: builtin
// extensions return them directly, external extensions print them on stdout.

/** A canonical command, `primary:selector` (e.g. `test:unit`). */
export interface CommandRef {
  primary: string;
  selector: string;
}

/** What a command means for one stack: a program and its argv, never a shell string. */
export interface ExecutionAction {
  program: string;
  args: string[];
  env?: Record<string, string>;
  /** Working directory relative to the project root (default: the stack root). */
  cwd?: string;
}

/**
 * A cache directory an extension wants persisted under `$DWF_CACHE_ROOT/<extension>/<path>`.
 * Under the container profile it is mounted at `container`; `env` names a variable that
 * points the tool at the directory (host path on the host, `container` inside the container),
 * so both profiles share the same bytes on disk.
 */
export interface CacheMount {
  path: string;
  container: string;
  env?: string;
}

/** A tool an extension needs, for `dwf doctor`. */
export interface ToolRequirement {
  name: string;
  /** argv that prints the version, e.g. ["tool", "--version"]. */
  version: string[];
  install: string;
  /** Needed only for some commands; missing optional tools are reported, not fatal. */
  optional?: boolean;
  /**
   * The commands (`primary` or `primary:selector`) whose actions run this tool. When given, it
   * alone decides: the tool is needed exactly when the profile being checked runs one of them
   * (`dwf doctor` plans the profile first). [] = never needed.
   */
  usedBy?: string[];
}

/**
 * A tool version pinned by a file in the project (a toolchain file, a version file, a manifest
 * field). When the tool here reports exactly that version, a host task's key names the pin
 * instead of this machine's binary, and its result may be shared with other machines.
 */
export interface ToolPin {
  /** The file that pins it, relative to the root (`rust-toolchain.toml`, `.nvmrc`, `package.json`). */
  file: string;
  /** The version as pinned, without a leading `v` (`1.95.0`). Only an exact version (x.y.z) counts. */
  version: string;
  /** argv that prints the version of the tool as it runs here (`["node", "--version"]`), run at the root. */
  probe: string[];
}

/** Result of asking an extension for a command: an action, or a reason it is skipped. */
export type ActionResult = { action: ExecutionAction } | { skip: string };

/** What an extension is told about the project when asked anything. */
export interface ExtensionContext {
  /** Absolute project root (directory of devflow.toml, or the detected root). */
  root: string;
  /** Environment of the dwf process (read-only view). */
  env: Record<string, string | undefined>;
  /**
   * Where a program is found where the tasks run: on the host PATH under the host profile, in
   * the image under the container profile (probed in the image once per fingerprint and
   * remembered). null = not there. Answers are cached by the core.
   */
  which(program: string): string | null;
}

/**
 * What a stack installs into the workspace. The core keeps the install current (it runs the
 * stack's `setup:deps` when `paths` are missing or `inputs` changed since the last install on
 * that runtime) and CI carries `paths` between jobs, keyed by the hash of `inputs`.
 */
export interface DependencySpec {
  /** Files, relative to the root, whose contents define what is installed (lockfiles, manifests). */
  inputs: string[];
  /** Workspace paths, relative to the root, that hold the installed dependencies (e.g. a modules or venv folder). */
  paths: string[];
}

/**
 * Build outputs worth carrying from one CI job to the next (a compiler's target folder), keyed
 * by the hash of `inputs` (lockfiles and toolchain pins, not sources: the build tool itself
 * decides what is stale).
 */
interface BuildOutputSpec {
  /** Paths relative to the root. */
  paths: string[];
  /** Files, relative to the root, that key the saved outputs. */
  inputs: string[];
}

/** A stack extension: all toolchain knowledge lives behind this interface. */
export interface Extension {
  name: string;
  /** Human summary for help/doctor. */
  description: string;
  /** Whether this stack applies to the project (usually: a manifest file exists). */
  detect(ctx: ExtensionContext): boolean | Promise<boolean>;
  /** Commands it can run: `primary:selector`, or a bare `primary` meaning every selector. */
  capabilities(ctx: ExtensionContext): string[] | Promise<string[]>;
  /** Translate a command into an action (or a skip with reason). Throw to decline with an error. */
  buildAction(ref: CommandRef, ctx: ExtensionContext): ActionResult | Promise<ActionResult>;
  cacheMounts?(ctx: ExtensionContext): CacheMount[] | Promise<CacheMount[]>;
  env?(ctx: ExtensionContext): Record<string, string> | Promise<Record<string, string>>;
  /** Files (relative to the root) whose contents define the toolchain environment. */
  fingerprintInputs?(ctx: ExtensionContext): string[] | Promise<string[]>;
  /**
   * Inputs a command's result depends on, as path prefixes relative to the root.
   * undefined = every file git sees; [] with cacheable=false = never cache.
   */
  taskInputs?(ref: CommandRef, ctx: ExtensionContext): string[] | undefined;
  /**
   * Files a passing command leaves in the workspace that later tasks need (a build's `dist`),
   * as paths relative to the root. A shared (remote) cache stores them with the result and
   * restores them on a hit; only these paths are ever written from a cache entry.
   */
  taskOutputs?(ref: CommandRef, ctx: ExtensionContext): string[];
  /**
   * What a job that prepares the workspace runs ahead of `ref`, so that `ref` run later (in
   * another job, from the saved workspace) finds its tool's outputs for the dependencies
   * already there: e.g. a linter that analyses every dependency with its own settings, which a
   * plain build does not leave behind. Run by `dwf warm <command>`, never cached, and a failure
   * there is only a warning: the command itself reports it where it runs. undefined = nothing
   * to warm (the build outputs already cover it).
   */
  warmAction?(ref: CommandRef, ctx: ExtensionContext): ActionResult | undefined | Promise<ActionResult | undefined>;
  /**
   * Host runs: the pins naming the version of what `program` runs (every one must match what
   * the tool reports), or undefined/[] when nothing pins it: its key then holds this machine's
   * binary and stays local.
   */
  toolPins?(program: string, ctx: ExtensionContext): ToolPin[] | undefined;
  /** Variables naming where this stack's tools live on this machine (a toolchain's home folder): left out of a pinned host task's portable key. */
  machineEnv?: string[];
  /** Whether a passing result may be reused (false for commands with side effects). */
  cacheable?(ref: CommandRef): boolean;
  tools?(ctx: ExtensionContext): ToolRequirement[] | Promise<ToolRequirement[]>;
  /** Installed dependencies: undefined when the stack installs nothing into the workspace. */
  dependencies?(ctx: ExtensionContext): DependencySpec | undefined | Promise<DependencySpec | undefined>;
  /** Build outputs CI may carry between jobs: undefined when there are none worth it. */
  buildOutputs?(ctx: ExtensionContext): BuildOutputSpec | undefined | Promise<BuildOutputSpec | undefined>;
  /**
   * Dockerfile.devflow fragment. `packages`: Debian packages the toolchain needs at run time
   * (installed in both stages). `install`: shell steps run in the toolchain stage, which has
   * curl and unzip; they must leave what they install under /usr/local, /opt or /home/dwf,
   * the directories copied into the final image.
   */
  dockerfile?(): { base?: string; packages?: string[]; install: string[] };
}
