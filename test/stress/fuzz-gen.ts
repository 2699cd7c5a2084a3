// Seeded generator of hostile devflow.toml cases: mutations of valid files (wrong types,
// unknown keys, deep nesting, huge arrays, bad UTF-8, truncation) and odd file kinds.
// Shared by the long stress run (test/stress/fuzz-config.ts) and the fast unit subset.

/** mulberry32: tiny, fast, and the same sequence on every machine for a given seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What sits at the devflow.toml path. "fifo" and "loop" are the root-proof stand-ins for an unreadable file. */
export type CaseKind = "file" | "empty" | "dir" | "fifo" | "loop" | "dangling";

export interface FuzzCase {
  id: number;
  mutation: string;
  kind: CaseKind;
  bytes: Uint8Array;
}

/** Valid files the mutations start from: every section, the shapes users actually write. */
export const BASES: string[] = [
  `[project]\nname = "demo"\nstack = ["custom"]\n\n[targets]\npr = ["fmt:check", "lint:static", "build:debug", "test:unit"]\nmain = ["check:pr", "test:integration"]\n`,
  `[project]\nname = "full"\n\n[runtime]\nprofile = "host"\n\n[container]\nimage = "ghcr.io/acme/ci"\nengine = "podman"\nfingerprint_inputs = ["Makefile"]\nuser = "1001:1001"\n\n[cache]\nroot = ".cache/devflow"\ntasks = true\n\n[targets]\npr = ["test:unit"]\n\n[extensions.custom]\nsource = "builtin"\nrequired = true\ntimeout = 30\n\n[ci]\nmode = "jobs"\nbranch = "main"\n`,
  `# comment only header\n[targets]\npr = ["build", "test"]\nrelease = ["check:pr", "package:artifact"]\n`,
  `project = { name = "inline", stack = ["custom"] }\ntargets = { pr = ["lint:static"] }\n`,
  ``,
];

const KEYS = [
  "project",
  "runtime",
  "container",
  "cache",
  "targets",
  "extensions",
  "ci",
  "name",
  "stack",
  "profile",
  "image",
  "engine",
  "root",
  "tasks",
  "pr",
  "main",
  "source",
  "path",
  "timeout",
  "mode",
  "api_version",
  "required",
  "platforms",
];
const SECTIONS = [
  "project",
  "runtime",
  "container",
  "cache",
  "targets",
  "extensions.custom",
  "extensions.x",
  "ci",
  "targets.pr",
  "project.stack",
];
const VALUES = [
  `42`,
  `-1`,
  `0.0`,
  `3.14e300`,
  `inf`,
  `-inf`,
  `nan`,
  `true`,
  `false`,
  `""`,
  `"x"`,
  `"host"`,
  `"container"`,
  `"auto"`,
  `"UPPER case"`,
  `1979-05-27T07:32:00Z`,
  `1979-05-27`,
  `07:32:00`,
  `[]`,
  `[1, "a", true]`,
  `[[1], [2]]`,
  `{}`,
  `{ a = 1 }`,
  `"test:unit"`,
  `"check:pr"`,
  `"../../etc"`,
  `"/abs/path"`,
  `'literal\\n'`,
  `"""multi\nline"""`,
  `0x10`,
  `0o7`,
  `0b1`,
  `1_000`,
  `"nul\\u0000byte"`,
  `"\\uD800"`,
];
const TOKENS = [
  "[",
  "]",
  "[[",
  "]]",
  "{",
  "}",
  "=",
  ",",
  ".",
  '"',
  "'",
  "\n",
  "#",
  "\\",
  "\r\n",
  "\t",
  "\u0000",
  "\ufeff",
  "\u2028",
  '="',
  "[]",
  "key",
];

const enc = new TextEncoder();

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}
function int(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

type Mutator = (r: () => number, base: string) => { text?: string; bytes?: Uint8Array; kind?: CaseKind };

/** Each mutator models one kind of mistake or attack; the name shows up in failure reports. */
export const MUTATORS: Record<string, Mutator> = {
  "wrong-type": (r, b) => {
    const lines = b.split("\n");
    const idx = lines.map((l, i) => (l.includes("=") ? i : -1)).filter((i) => i >= 0);
    if (idx.length === 0) return { text: `${pick(r, KEYS)} = ${pick(r, VALUES)}\n${b}` };
    const i = pick(r, idx);
    lines[i] = `${lines[i]!.split("=")[0]!.trim()} = ${pick(r, VALUES)}`;
    return { text: lines.join("\n") };
  },
  "unknown-key": (r, b) => {
    const suffix = pick(r, ["x", "_", "-", "", "Ü"]);
    const key = suffix === "Ü" ? `"${pick(r, KEYS)}${suffix}"` : `${pick(r, KEYS)}${suffix}`;
    return { text: `${b}\n[${pick(r, SECTIONS)}]\n${key} = ${pick(r, VALUES)}\n` };
  },
  "section-as-value": (r, b) => ({
    text: `${pick(r, ["project", "runtime", "container", "cache", "targets", "extensions", "ci"])} = ${pick(r, VALUES)}\n${r() < 0.5 ? "" : b}`,
  }),
  "deep-array": (r) => {
    const depth = pick(r, [10, 100, 1000, 5000, 20000]);
    return { text: `[targets]\npr = ${"[".repeat(depth)}"test:unit"${"]".repeat(r() < 0.8 ? depth : depth - 1)}\n` };
  },
  "deep-table": (r) => {
    const depth = pick(r, [10, 100, 1000, 5000]);
    return { text: `x = ${"{ a = ".repeat(depth)}1${" }".repeat(depth)}\n` };
  },
  "deep-dotted-key": (r) => ({ text: `[${Array.from({ length: pick(r, [50, 500, 5000]) }, () => "a").join(".")}]\nb = 1\n` }),
  "huge-array": (r) => {
    const n = pick(r, [1000, 10000, 100000]);
    const item = pick(r, [`"test:unit"`, `"fmt"`, `1`, `"x"`]);
    return {
      text: `[project]\nstack = [${Array(n).fill(item).join(",")}]\n[targets]\npr = [${Array(Math.min(n, 20000)).fill(`"test:unit"`).join(",")}]\n`,
    };
  },
  "huge-string": (r) => ({
    text: `[project]\nname = "${"x".repeat(pick(r, [10_000, 1_000_000]))}"\n[targets]\npr = ["${"t".repeat(pick(r, [100, 100_000]))}"]\n`,
  }),
  "many-profiles": (r) => ({
    text: `[targets]\n${Array.from({ length: pick(r, [100, 3000]) }, (_, i) => `p${i} = ["check:p${(i + 1) % 7}"]`).join("\n")}\n`,
  }),
  "self-cycle": (r) => {
    const n = int(r, 1, 4);
    return {
      text: `[targets]\n${Array.from({ length: n }, (_, i) => `p${i} = ["check:p${(i + 1) % n}", "test:unit"]`).join("\n")}\npr = ["check:p0"]\n`,
    };
  },
  "bad-command-ref": (r) => ({
    text: `[targets]\npr = [${pick(r, [`""`, `":"`, `"test:"`, `":unit"`, `"a:b:c"`, `"TEST:UNIT"`, `"test:unit "`, `"rm -rf /"`, `"$(id)"`, `"test:\`id\`"`, `"test:unit;id"`, `"check:pr"`])}]\n`,
  }),
  "bad-utf8": (r, b) => {
    const bytes = enc.encode(b || '[project]\nname = "x"\n');
    const out = new Uint8Array(bytes.length + 2);
    const at = int(r, 0, bytes.length);
    out.set(bytes.subarray(0, at), 0);
    out.set(
      pick(r, [
        [0xff, 0xfe],
        [0xc3, 0x28],
        [0xed, 0xa0],
        [0xf8, 0x88],
        [0xe2, 0x28],
      ]),
      at,
    );
    out.set(bytes.subarray(at), at + 2);
    return { bytes: out };
  },
  truncated: (r, b) => {
    const bytes = enc.encode(b || BASES[1]!);
    return { bytes: bytes.subarray(0, int(r, 1, Math.max(1, bytes.length - 1))) };
  },
  "byte-flip": (r, b) => {
    const bytes = enc.encode(b || BASES[0]!).slice();
    for (let n = int(r, 1, 6); n > 0; n--) bytes[int(r, 0, bytes.length - 1)] = int(r, 0, 255);
    return { bytes };
  },
  "token-splice": (r, b) => {
    let t = b || BASES[0]!;
    for (let n = int(r, 1, 5); n > 0; n--) {
      const at = int(r, 0, t.length);
      t = t.slice(0, at) + pick(r, TOKENS) + t.slice(at);
    }
    return { text: t };
  },
  "duplicate-key": (r, b) => ({
    text: `${b}\n${pick(r, [`[project]\nname = "again"`, `[targets]\npr = []`, `[[targets]]\npr = 1`, `[project.stack]\na = 1`])}\n`,
  }),
  "bom-crlf": (r, b) => ({ text: (r() < 0.5 ? "\ufeff" : "") + b.replaceAll("\n", "\r\n") }),
  "bad-names": (r) => ({
    text: `[targets]\n${pick(r, [`PR`, `"1pr"`, `"p r"`, `"ü"`, `""`, `"a.b"`])} = ["test:unit"]\n[extensions.${pick(r, [`"X"`, `"../x"`, `"with space"`, `"é"`])}]\nrequired = true\n`,
  }),
  "bad-extension": (r) => ({
    text: `[extensions.${pick(r, ["custom", "nosuch", "rust"])}]\n${pick(r, [`source = "path"`, `source = "git"`, `timeout = 0`, `timeout = 1e9`, `api_version = 0`, `api_version = 1.5`, `path = ""`, `required = "yes"`, `capabilities = [1]`])}\n`,
  }),
  empty: () => ({ kind: "empty", bytes: new Uint8Array() }),
  whitespace: (r) => ({ text: pick(r, [" ", "\n\n\n", "\t", "# only a comment", "\r\n", "\u0000"]) }),
  directory: () => ({ kind: "dir" }),
  fifo: () => ({ kind: "fifo" }),
  "symlink-loop": () => ({ kind: "loop" }),
  "dangling-symlink": () => ({ kind: "dangling" }),
  random: (r) => {
    const bytes = new Uint8Array(int(r, 1, 300));
    for (let i = 0; i < bytes.length; i++) bytes[i] = r() < 0.7 ? int(r, 32, 126) : int(r, 0, 255);
    return { bytes };
  },
};

const RARE = new Set(["directory", "fifo", "symlink-loop", "dangling-symlink", "empty"]);

/** The n-th case of a seed; cases are independent, so a failure replays with (seed, id) alone. */
export function makeCase(seed: number, id: number): FuzzCase {
  const r = rng((seed ^ Math.imul(id + 1, 0x9e3779b1)) >>> 0);
  const names = Object.keys(MUTATORS);
  let mutation = pick(r, names);
  // File-kind cases are cheap and repetitive: keep them at ~1 in 20 so content mutations dominate.
  if (RARE.has(mutation) && r() > 0.25)
    mutation = pick(
      r,
      names.filter((n) => !RARE.has(n)),
    );
  let base = pick(r, BASES);
  let out = MUTATORS[mutation]!(r, base);
  // Stack a second mutation now and then: most real breakage is two mistakes at once.
  if (!out.kind && out.text !== undefined && r() < 0.3) {
    base = out.text;
    const second = pick(r, ["wrong-type", "unknown-key", "token-splice", "duplicate-key", "truncated"]);
    out = MUTATORS[second]!(r, base);
    mutation += `+${second}`;
  }
  const bytes = out.bytes ?? enc.encode(out.text ?? "");
  return { id, mutation, kind: out.kind ?? "file", bytes };
}

/**
 * A message is "one paragraph" when it is short, has no blank line and no stack frame;
 * the hint line dwf prints under an error counts as part of the paragraph.
 */
export function messageProblem(stderr: string): string | null {
  const text = stderr.trim();
  if (/internal error/i.test(text)) return "internal error";
  if (/^\s+at .+[:(]\d+/m.test(text) || /\bat <anonymous>|node:internal|\.ts:\d+:\d+\)/.test(text)) return "stack trace";
  if (text.includes("\n\n")) return "more than one paragraph";
  if (text.split("\n").length > 4) return `message has ${text.split("\n").length} lines`;
  if (text.length > 1200) return `message is ${text.length} characters`;
  return null;
}
