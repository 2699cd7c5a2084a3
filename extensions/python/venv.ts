// The project-local virtualenv (.venv) convention for projects without uv: where it lives,
// whether its interpreter runs here, what setup installs into it, and the setup script.
import { accessSync, constants, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parse } from "smol-toml";
import { isDir, readText } from "../shared.ts";

export const VENV = ".venv";
export const VENV_PYTHON = `${VENV}/bin/python`;

/** Optional-dependency groups installed as extras with `-e .[...]`, in this order, when declared. */
const DEV_EXTRAS = ["dev", "test", "tests"];

/**
 * "ok": .venv/bin/python resolves to an executable. "broken": it exists as a link or file but
 * does not (a venv made by an interpreter this machine lacks). "absent": no venv interpreter.
 */
export function venvState(root: string): "ok" | "broken" | "absent" {
  const path = join(root, VENV_PYTHON);
  try {
    lstatSync(path);
  } catch {
    return "absent";
  }
  try {
    accessSync(path, constants.X_OK);
    return "ok";
  } catch {
    return "broken";
  }
}

/** Whether a module is installed in the venv (formatters are often global tools, not venv packages). */
export function venvHasModule(root: string, module: string): boolean {
  let versions: string[];
  try {
    versions = readdirSync(join(root, VENV, "lib")).filter((name) => name.startsWith("python"));
  } catch {
    return false;
  }
  return versions.some((v) => isDir(root, `${VENV}/lib/${v}/site-packages/${module}`));
}

/** Extras from [project.optional-dependencies] that name dev/test dependencies; [] when unreadable. */
export function devExtras(root: string): string[] {
  const text = readText(root, "pyproject.toml");
  if (text === undefined) return [];
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch {
    // pip reports a malformed pyproject.toml far better than we could here.
    return [];
  }
  const project = doc.project;
  if (typeof project !== "object" || project === null) return [];
  const optional = (project as Record<string, unknown>)["optional-dependencies"];
  if (typeof optional !== "object" || optional === null) return [];
  return DEV_EXTRAS.filter((name) => Object.hasOwn(optional, name));
}

/**
 * Fixed script text: paths and pip arguments arrive only as positional parameters, never inside
 * the script. $1 = base interpreter, $2 = venv dir, the rest = `pip install` arguments.
 * An interpreter that does not run here (dangling link from another machine or the container)
 * means the venv is recreated; a working venv is reused as is. A venv whose creation failed
 * (no ensurepip: the python3-venv package is missing) is removed, so the next run tries again
 * instead of finding a venv without pip.
 *
 * The venv sees the interpreter's own site-packages: tools the machine or image provides (a
 * system pytest) stay usable as they were before dwf made a venv, and a requirement they already
 * satisfy needs no download. What the project pins is installed into the venv and wins.
 */
export const SETUP_SCRIPT = [
  "set -e",
  "base=$1; venv=$2; shift 2",
  'if ! "$venv/bin/python" -c "" >/dev/null 2>&1; then',
  '  if [ -e "$venv" ] || [ -L "$venv" ]; then',
  '    echo "dwf: $venv/bin/python does not run here (venv made by another interpreter); recreating $venv" >&2',
  "    clear=--clear",
  "  else",
  "    clear=",
  "  fi",
  '  if ! "$base" -m venv --system-site-packages $clear "$venv"; then',
  '    rm -rf "$venv"',
  '    echo "dwf: could not create $venv with $base (on Debian and Ubuntu: apt-get install $base-venv)" >&2',
  "    exit 1",
  "  fi",
  "fi",
  'exec "$venv/bin/python" -m pip install "$@"',
].join("\n");

/** argv for `sh -c`: create/repair the venv with `base`, then pip install `pipArgs` into it. */
export function venvSetupArgs(base: string, pipArgs: string[]): string[] {
  return ["-c", SETUP_SCRIPT, "dwf-venv", base, VENV, ...pipArgs];
}
