// The hooks --describe declares beyond the original protocol (task_outputs, tool_pins,
// machine_env, warm) and the --warm-action call, through the real subprocess loader: what each
// becomes on the Extension, the error a bad value gives, and warming as best effort.
import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadExternalExtension } from "../../../extensions/external/protocol.ts";
import { UserError } from "../../../src/lib/errors.ts";
import { log } from "../../../src/lib/log.ts";
import type { Extension } from "../../../src/sdk/types.ts";
import { cleanup, ctx, project, ref } from "./helpers.ts";

afterEach(cleanup);

/**
 * An extension in a fresh project: `describe` is printed for --describe (none: the call fails,
 * as in the original protocol), `warm` is the shell run for --warm-action. Every flag it is
 * called with is appended to `calls` in the project.
 */
async function load(opts: { describe?: string; warm?: string; timeout?: number } = {}) {
  const root = project({ "demo.toml": "", ...(opts.describe === undefined ? {} : { "describe.json": opts.describe }) });
  const ext = join(root, "devflow-ext-x");
  const describeBody = opts.describe === undefined ? "exit 1" : `cat ${root}/describe.json`;
  writeFileSync(
    ext,
    [
      "#!/bin/sh",
      `echo "$1" >> ${root}/calls`,
      'case "$1" in',
      `  --describe) ${describeBody} ;;`,
      `  --discover) echo '["lint:static","build","test:unit"]' ;;`,
      `  --build-action) cat >/dev/null; echo '{"program":"x","args":[]}' ;;`,
      `  --warm-action) cat >/dev/null; ${opts.warm ?? "exit 1"} ;;`,
      "  *) exit 1 ;;",
      "esac",
      "",
    ].join("\n"),
  );
  chmodSync(ext, 0o755);
  const c = ctx(root);
  const loaded = await loadExternalExtension("x", { path: ext, timeout: opts.timeout }, c, { file: "devflow.toml" });
  const calls = () => (existsSync(join(root, "calls")) ? readFileSync(join(root, "calls"), "utf8").trim().split("\n") : []);
  return { ext: loaded, c, root, calls };
}

const described = (fields: Record<string, unknown>) => JSON.stringify({ api_version: 1, ...fields });

async function refusal(fields: Record<string, unknown>): Promise<UserError> {
  try {
    await load({ describe: described(fields) });
  } catch (e) {
    if (e instanceof UserError) return e;
    throw e;
  }
  throw new Error(`loaded with ${JSON.stringify(fields)}`);
}

/** Loading with these fields is a user error (exit 2) naming the extension and saying each text. */
async function refusedSaying(fields: Record<string, unknown>, ...texts: string[]): Promise<UserError> {
  const e = await refusal(fields);
  expect(e.exitCode).toBe(2);
  expect(e.message).toContain("extension 'x'");
  for (const t of texts) expect(e.message).toContain(t);
  return e;
}

describe("an extension written for the original protocol", () => {
  test("gets no outputs, pins or warm action, and is never called with --warm-action", async () => {
    const { ext, c, calls } = await load();
    expect(ext.taskOutputs!(ref("build:debug"), c)).toEqual([]);
    expect(ext.toolPins!("x", c)).toBeUndefined();
    expect(ext.machineEnv).toEqual([]);
    expect(ext.warmAction).toBeUndefined();
    expect(calls()).not.toContain("--warm-action");
  });

  test("one whose --describe lists no 'warm' has no warm action either", async () => {
    const { ext } = await load({ describe: described({ task_outputs: { build: ["out"] } }), warm: "kill -9 $$" });
    expect(ext.warmAction).toBeUndefined();
  });
});

describe("a pin whose version is not exact", () => {
  test("is taken as written (the task cache keeps its task local and says why)", async () => {
    const { ext, c } = await load({
      describe: described({ tool_pins: { x: [{ file: "demo.toml", version: "1.4", probe: ["x", "--version"] }] } }),
    });
    expect(ext.toolPins!("x", c)).toEqual([{ file: "demo.toml", version: "1.4", probe: ["x", "--version"] }]);
  });
});

describe("a bad value in a new --describe field stops the run, naming the extension, the field and the value", () => {
  const pin = { file: "demo.toml", version: "1.4.2", probe: ["x", "--version"] };
  const cases: [string, Record<string, unknown>, string][] = [
    ["an absolute output", { task_outputs: { build: ["/srv/out"] } }, `'task_outputs.build[0]' is "/srv/out"`],
    [
      "an output outside the project",
      { task_outputs: { "build:debug": ["out/../../up"] } },
      `'task_outputs.build:debug[0]' is "out/../../up"`,
    ],
    ["outputs under something not a command", { task_outputs: { "Build Debug": ["out"] } }, `'task_outputs' has the key "Build Debug"`],
    ["outputs that are not an object", { task_outputs: ["dist"] }, `'task_outputs' is ["dist"]`],
    ["a pin file outside the project", { tool_pins: { x: [{ ...pin, file: "../x-version" }] } }, `'tool_pins.x[0].file' is "../x-version"`],
    ["an empty pinned version", { tool_pins: { x: [{ ...pin, version: " " }] } }, `'tool_pins.x[0].version' is ""`],
    ["a version that is a number", { tool_pins: { x: [{ ...pin, version: 1.4 }] } }, `'tool_pins.x[0].version' is 1.4`],
    ["an empty probe", { tool_pins: { x: [{ ...pin, probe: [] }] } }, `'tool_pins.x[0].probe' is []`],
    ["a pin without a probe", { tool_pins: { x: [{ file: "demo.toml", version: "1.4.2" }] } }, `'tool_pins.x[0]' has no "probe"`],
    ["pins under a path, not a program name", { tool_pins: { "./bin/x": [pin] } }, `'tool_pins' has the key "./bin/x"`],
    ["a pin that is a string", { tool_pins: { x: ["1.4.2"] } }, `'tool_pins.x[0]' is "1.4.2"`],
    ["a machine variable that is no name", { machine_env: ["X-HOME"] }, `'machine_env[0]' is "X-HOME"`],
    ["machine variables that are not a list", { machine_env: "X_HOME" }, `'machine_env' is "X_HOME"`],
    ["a warm command that is no command", { warm: ["lint static"] }, `'warm[0]' is "lint static"`],
    ["warm as a flag", { warm: true }, `'warm' is true`],
  ];
  test.each(cases)("%s", async (_what, fields, said) => {
    const e = await refusedSaying(fields, "--describe: invalid '", said);
    expect(e.hint).toContain("e.g.");
  });
});

describe("a --describe answer of the wrong shape in the original fields is a broken extension, not one without --describe", () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ["cache mounts that are a string", { cache_mounts: "pip" }, "at .cache_mounts"],
    ["a mount without its container path", { cache_mounts: [{ path: "pip" }] }, "at .cache_mounts[0].container"],
    ["env values that are numbers", { env: { PIP_NO_INPUT: 1 } }, "at .env.PIP_NO_INPUT"],
    ["fingerprint inputs that are not a list", { fingerprint_inputs: "requirements.txt" }, "at .fingerprint_inputs"],
    ["capabilities that are no commands", { capabilities: ["Test Unit"] }, "at .capabilities[0]"],
    ["an api_version that is a string", { api_version: "1" }, "at .api_version"],
  ];
  test.each(cases)("%s", async (_what, fields, said) => {
    await refusedSaying(fields, "--describe: printed JSON of the wrong shape", said);
  });

  test("an extension that does not know --describe and prints its usage with exit 0 still loads through --discover", async () => {
    const { ext, c } = await load({ describe: "usage: devflow-ext-x --discover | --build-action" });
    expect(await ext.capabilities(c)).toContain("test:unit");
  });
});

describe("--warm-action", () => {
  const warmable = described({ warm: ["lint"] });

  async function warmWith(script: string, timeout?: number) {
    const loaded = await load({ describe: warmable, warm: script, timeout });
    const spy = spyOn(log, "warn").mockImplementation(() => {});
    try {
      const result = await (loaded.ext as Required<Extension>).warmAction(ref("lint:static"), loaded.c);
      return { ...loaded, result, warnings: spy.mock.calls.map((args) => args.map(String).join(" ")) };
    } finally {
      spy.mockRestore();
    }
  }

  test("an action is what to warm; it is asked only about the commands 'warm' lists", async () => {
    const { ext, c, result, calls } = await warmWith(`echo '{"program":"./tools/x","args":["lint","--deps"],"cwd":"sub"}'`);
    expect(result).toEqual({ action: { program: "../tools/x", args: ["lint", "--deps"], cwd: "sub" } });
    expect(await ext.warmAction!(ref("build:debug"), c)).toBeUndefined();
    expect(calls().filter((f) => f === "--warm-action")).toHaveLength(1);
  });

  test.each([
    ["null", "echo null"],
    ["nothing", "true"],
    ["a non-zero exit", "echo 'no clippy here' >&2; exit 3"],
  ])("%s is nothing to warm", async (_what, script) => {
    const { result, warnings } = await warmWith(script);
    expect(result).toBeUndefined();
    expect(warnings).toEqual([]);
  });

  test.each([
    ["a crash", "kill -9 $$", "killed by SIGKILL"],
    ["a shell reporting a crashed program", "exit 139", "killed by SIGSEGV"],
    ["a time-out", "sleep 5", "did not answer within 1 s"],
    ["an answer that is not an action", "echo 'warming…'", "not JSON"],
    ["an action leaving the project", `echo '{"program":"x","args":[],"cwd":"../elsewhere"}'`, "must be a path inside the project"],
  ])("%s is a warning and a skip, not an error", async (_what, script, said) => {
    const { result, warnings } = await warmWith(script, 1);
    expect(result && "skip" in result && result.skip).toContain(said);
    expect(warnings).toHaveLength(1);
    const message = warnings[0]!;
    expect(message).toContain("extension 'x'");
    expect(message).toContain("--warm-action for lint:static");
    expect(message).toContain(said);
  });
});
