// What a task's cache key holds: the parts (`KeyParts`) and their hash, this machine's tool
// identity, which inherited variables count (and which never do), and the portable form of
// both when a stack pins its tool to an exact version.
import { realpathSync, statSync } from "node:fs";
import type { RuntimeKind } from "../core/runner.ts";
import { resolveProgram } from "../lib/process.ts";
import { CONTAINER_ENV } from "../sdk/image.ts";

/** Everything a task's result depends on, as plain data; `taskKey` hashes it. */
export interface KeyParts {
  task: string;
  program: string;
  args: string[];
  env: Record<string, string>;
  /** What the task inherits from dwf's own environment (see inheritedKeyEnv). */
  inherited: Record<string, string>;
  /** Working directory relative to the project root. */
  cwd: string;
  runner: RuntimeKind;
  /** Container: the image fingerprint. Host: the resolved program's identity. */
  environment: string;
  /** The stack's fingerprint inputs (manifests, lockfiles, toolchain pins). */
  extension: string;
  /** Digest of the files the task can see. */
  tree: string;
}

function sortedPairs(env: Record<string, string>): [string, string | undefined][] {
  return Object.keys(env)
    .sort()
    .map((k) => [k, env[k]]);
}

/** The inherited environment is the same object for every task of a run: serialise it once. */
const pairsJson = new WeakMap<Record<string, string>, string>();

function sortedPairsJson(env: Record<string, string>): string {
  let json = pairsJson.get(env);
  if (json === undefined) pairsJson.set(env, (json = JSON.stringify(sortedPairs(env))));
  return json;
}

export function taskKey(p: KeyParts): string {
  // Spelled out, this is JSON.stringify of the array of parts, with the inherited part reused.
  const j = JSON.stringify;
  const canonical = `[${j("dwf-task-v2")},${j(p.task)},${j(p.program)},${j(p.args)},${j(sortedPairs(p.env))},${sortedPairsJson(p.inherited)},${j(p.cwd)},${j(p.runner)},${j(p.environment)},${j(p.extension)},${j(p.tree)}]`;
  return Bun.CryptoHasher.hash("sha256", canonical, "hex");
}

/** Host runs: which binary the program resolves to, and whether it changed (path, size, mtime). */
export function toolIdentity(program: string, cwd: string, pathVar: string): string {
  // The same resolution the host runner uses, so the key names the binary that will run.
  const found = resolveProgram(program, cwd, pathVar);
  if (!found) return `missing:${program}`;
  try {
    const real = realpathSync(found);
    const st = statSync(real);
    return `${found}\0${real}\0${st.size}\0${st.mtimeMs}`;
  } catch {
    return `unreadable:${found}`;
  }
}

/**
 * Inherited variables that describe the session, not the build: shell bookkeeping, the
 * terminal or login session, CI run ids and per-step files, dwf's own switches. Exact names
 * only (README: "What the key leaves out"). They are left out of the key so they do not defeat
 * the cache, and for the same reason a cacheable host task does not get them: what a task
 * can see is what its key covers. Everything else it inherits (TERM, GITHUB_REF, …) is hashed.
 */
export const KEY_EXCLUDED_ENV: readonly string[] = [
  // shell bookkeeping
  "_",
  "PWD",
  "OLDPWD",
  "SHLVL",
  "PS1",
  "PS2",
  "PS3",
  "PS4",
  "PROMPT_COMMAND",
  "MAIL",
  "MAILCHECK",
  "HISTFILE",
  "HISTSIZE",
  "HISTFILESIZE",
  "HISTCONTROL",
  "HISTIGNORE",
  "HISTTIMEFORMAT",
  "COLUMNS",
  "LINES",
  // terminal and login session
  "TERM_SESSION_ID",
  "WINDOWID",
  "STY",
  "WINDOW",
  "TMUX",
  "TMUX_PANE",
  "KITTY_WINDOW_ID",
  "ITERM_SESSION_ID",
  "WT_SESSION",
  "SECURITYSESSIONID",
  "XDG_SESSION_ID",
  "XDG_VTNR",
  "INVOCATION_ID",
  "JOURNAL_STREAM",
  "SYSTEMD_EXEC_PID",
  "MANAGERPID",
  "SSH_CONNECTION",
  "SSH_CLIENT",
  "SSH_TTY",
  "SSH_AUTH_SOCK",
  "SSH_AGENT_PID",
  "GPG_TTY",
  // CI: ids and files that change with every run or step, and the run's credentials
  "GITHUB_RUN_ID",
  "GITHUB_RUN_NUMBER",
  "GITHUB_RUN_ATTEMPT",
  "GITHUB_JOB",
  "GITHUB_ACTION",
  "GITHUB_ENV",
  "GITHUB_OUTPUT",
  "GITHUB_PATH",
  "GITHUB_STATE",
  "GITHUB_STEP_SUMMARY",
  "GITHUB_TOKEN",
  "RUNNER_TRACKING_ID",
  "ACTIONS_RUNTIME_TOKEN",
  "ACTIONS_RUNTIME_URL",
  "ACTIONS_CACHE_URL",
  "ACTIONS_RESULTS_URL",
  "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
  "ACTIONS_ID_TOKEN_REQUEST_URL",
  // dwf's own switches
  "DWF_LOG",
  "DWF_PROFILE",
  "DWF_ENGINE",
  "DWF_CACHE_ROOT",
  "DWF_DOWNLOAD_BASE",
  "DWF_INSTALL_DIR",
  "DWF_RUN",
  // the remote cache's settings and credentials (dwf's own names and the turbo ones it accepts)
  "DWF_REMOTE_CACHE",
  "DWF_REMOTE_CACHE_URL",
  "DWF_REMOTE_CACHE_TOKEN",
  "DWF_REMOTE_CACHE_TEAM",
  "DWF_REMOTE_CACHE_SIGNATURE_KEY",
  "TURBO_API",
  "TURBO_TOKEN",
  "TURBO_TEAM",
  "TURBO_REMOTE_CACHE_SIGNATURE_KEY",
];
const EXCLUDED = new Set(KEY_EXCLUDED_ENV);

/**
 * The part of the inherited environment a task's result can depend on. Host tasks inherit the
 * whole environment but KEY_EXCLUDED_ENV (a changed `FOO=…` must re-run them); containers get a fixed CI=true, whatever the host has.
 */
export function inheritedKeyEnv(env: Record<string, string | undefined>, runner: RuntimeKind): Record<string, string> {
  const out: Record<string, string> = {};
  // A container inherits nothing from the host: it always gets CI=true (CONTAINER_ENV).
  if (runner === "container") return { CI: CONTAINER_ENV.CI! };
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !EXCLUDED.has(k)) out[k] = v;
  return out;
}

/**
 * Inherited variables that name this machine or user rather than the build: left out of the key
 * of a host task whose tool is pinned (its portable key), so another machine can compute it. The
 * pin stands for the toolchain PATH would find; every other variable (FOO, RUSTFLAGS, …) is kept.
 */
const MACHINE_ENV: readonly string[] = [
  "HOME",
  "USER",
  "LOGNAME",
  "USERNAME",
  "PATH",
  "SHELL",
  "HOSTNAME",
  "HOST",
  "TMPDIR",
  "TMP",
  "TEMP",
  "MAIL",
  "LANG",
  "LANGUAGE",
  "LC_ALL",
  "LC_CTYPE",
  "LC_MESSAGES",
  "LC_COLLATE",
  "LC_NUMERIC",
  "LC_TIME",
  "LC_MONETARY",
  "XDG_RUNTIME_DIR",
  "XDG_CONFIG_HOME",
  "XDG_CACHE_HOME",
  "XDG_DATA_HOME",
  "XDG_STATE_HOME",
  "XDG_CONFIG_DIRS",
  "XDG_DATA_DIRS",
  "XDG_SESSION_TYPE",
  "XDG_SESSION_CLASS",
  "XDG_CURRENT_DESKTOP",
  "DESKTOP_SESSION",
  "DISPLAY",
  "WAYLAND_DISPLAY",
  "DBUS_SESSION_BUS_ADDRESS",
  "LS_COLORS",
  "EDITOR",
  "VISUAL",
  "PAGER",
  "MANPATH",
  "INFOPATH",
  "MOTD_SHOWN",
];

/** The inherited part of a pinned host task's portable key: without MACHINE_ENV and the stacks' own (Extension.machineEnv). */
export function portableInheritedEnv(inherited: Record<string, string>, stackNames: Iterable<string> = []): Record<string, string> {
  const machine = new Set([...MACHINE_ENV, ...stackNames]);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(inherited)) if (!machine.has(k)) out[k] = v;
  return out;
}

/** An exact version: x.y.z with an optional pre-release or build suffix. A channel (`stable`, `22`, `lts/*`) is not. */
export const EXACT_VERSION = /^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/;

/** Whether a tool's version output names exactly this version (`tool 1.95.0 (…)`, `v20.1.0`, `go1.23.4`). */
export function reportsVersion(output: string, version: string): boolean {
  const v = version.replace(/[.+*?^$()[\]{}|\\]/g, "\\$&");
  return new RegExp(`(^|[^0-9.])${v}($|[^0-9.+-])`, "m").test(output);
}

/** Whether a task's result may be shared with other machines, and why (shown by --explain and --verbose). */
export interface Sharing {
  shared: boolean;
  why: string;
}
