// The `docker` a job of the CI emulator sees first on PATH. Everything is the real docker CLI
// (against the runner's daemon: podman's Docker API socket, or a dockerd) except `docker
// buildx`, which this machine does not have: `bake` is emulated by a podman build of the target
// (and, for a pushing output, an upload by digest to the registry over its HTTP API; for a
// loading one under dockerd, `podman save | docker load`), `imagetools inspect|create` talk to
// the registry's HTTP API. Every build and push is logged for the tests (EMU_EVENTS).
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const REAL_DOCKER = process.env.EMU_REAL_DOCKER ?? "/usr/bin/docker";
const EVENTS = process.env.EMU_EVENTS;
/** podman's Docker API shares podman's image store; a dockerd has its own. */
const DOCKERD = process.env.EMU_DOCKER_DAEMON === "dockerd";

function event(e: Record<string, unknown>): void {
  if (EVENTS) appendFileSync(EVENTS, JSON.stringify({ ...e, job: process.env.EMU_JOB }) + "\n");
}

function fail(message: string, code = 1): never {
  process.stderr.write(`ERROR: ${message}\n`);
  process.exit(code);
}

function run(argv: string[], opts: { cwd?: string } = {}): string {
  const r = Bun.spawnSync(argv, { cwd: opts.cwd, stdout: "pipe", stderr: "pipe" });
  const out = r.stdout.toString() + r.stderr.toString();
  process.stderr.write(out);
  if (r.exitCode !== 0) fail(`${argv.slice(0, 2).join(" ")} failed (exit ${r.exitCode})`);
  return r.stdout.toString();
}

// ---- bake -----------------------------------------------------------------------------

type Value = string | string[];
interface Target {
  [key: string]: Value;
}

/** The HCL subset docker-bake.hcl files from `dwf ci generate` use: variables with defaults, groups, targets of strings and one-line lists. */
export function parseBake(
  text: string,
  env: Record<string, string | undefined>,
): { targets: Record<string, Target>; groups: Record<string, string[]> } {
  const vars: Record<string, string> = {};
  const blocks: { kind: string; name: string; body: Record<string, string> }[] = [];
  const re = /^(variable|group|target)\s+"([^"]+)"\s*\{([\s\S]*?)^\}/gm;
  const clean = text.replace(/^\s*#.*$/gm, "");
  for (const m of clean.matchAll(re)) {
    const body: Record<string, string> = {};
    for (const line of m[3]!.split("\n")) {
      const kv = /^\s*([A-Za-z0-9_-]+)\s*=\s*(.+?)\s*$/.exec(line);
      if (kv) body[kv[1]!] = kv[2]!;
      else if (line.trim() !== "") fail(`emulated bake: cannot read '${line.trim()}' in ${m[1]} "${m[2]}"`);
    }
    blocks.push({ kind: m[1]!, name: m[2]!, body });
  }
  const str = (raw: string): string => {
    const m = /^"(.*)"$/.exec(raw);
    if (!m) fail(`emulated bake: only string values are supported, got ${raw}`);
    return m[1]!.replace(/\$\{([A-Za-z0-9_]+)\}/g, (_, v: string) => {
      if (!(v in vars)) fail(`emulated bake: unknown variable ${v}`);
      return vars[v]!;
    });
  };
  const value = (raw: string): Value => {
    if (raw.startsWith("[")) {
      const inner = raw.replace(/^\[|\]$/g, "").trim();
      const items = inner.match(/"(?:[^"\\]|\\.)*"/g) ?? [];
      if (inner.replace(/"(?:[^"\\]|\\.)*"/g, "").replace(/[\s,]/g, "") !== "")
        fail(`emulated bake: only lists of strings are supported, got ${raw}`);
      return items.map(str);
    }
    return str(raw);
  };
  for (const b of blocks) if (b.kind === "variable") vars[b.name] = env[b.name] ?? (b.body.default ? JSON.parse(b.body.default) : "");
  const raw: Record<string, Target> = {};
  const groups: Record<string, string[]> = {};
  for (const b of blocks) {
    if (b.kind === "target") raw[b.name] = Object.fromEntries(Object.entries(b.body).map(([k, v]) => [k, value(v)]));
    if (b.kind === "group") groups[b.name] = value(b.body.targets ?? "[]") as string[];
  }
  const resolveTarget = (name: string, seen: string[] = []): Target => {
    const t = raw[name];
    if (!t) fail(`emulated bake: no target "${name}"`);
    if (seen.includes(name)) fail(`emulated bake: inherits cycle at ${name}`);
    let out: Target = {};
    for (const parent of (t.inherits as string[] | undefined) ?? []) out = { ...out, ...resolveTarget(parent, [...seen, name]) };
    const { inherits: _, ...own } = t;
    return { ...out, ...own };
  };
  return { targets: Object.fromEntries(Object.keys(raw).map((n) => [n, resolveTarget(n)])), groups };
}

function parseOutput(spec: string): Record<string, string> {
  return Object.fromEntries(
    spec.split(",").map((kv) => {
      const i = kv.indexOf("=");
      return [kv.slice(0, i), kv.slice(i + 1)];
    }),
  );
}

interface Ref {
  host: string;
  repository: string;
  reference: string;
}

function parseRef(ref: string): Ref {
  const m = /^([^/]+)\/(.+?)(?:@(sha256:[0-9a-f]{64})|:([A-Za-z0-9_.-]+))$/.exec(ref);
  if (!m) fail(`emulated buildx: cannot read image reference '${ref}'`);
  const registry = process.env.EMU_REGISTRY;
  if (m[1] !== registry) fail(`${ref}: emulated registry is ${registry}; no other registry is reachable`);
  return { host: m[1]!, repository: m[2]!, reference: m[3] ?? m[4]! };
}

const MANIFEST_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

async function uploadBlob(r: Ref, digest: string, data: Uint8Array): Promise<void> {
  const head = await fetch(`http://${r.host}/v2/${r.repository}/blobs/${digest}`, { method: "HEAD" });
  if (head.status === 200) return;
  const start = await fetch(`http://${r.host}/v2/${r.repository}/blobs/uploads/`, { method: "POST" });
  if (start.status !== 202) fail(`blob upload to ${r.host}/${r.repository} answered ${start.status}`);
  const location = new URL(start.headers.get("location")!, `http://${r.host}`);
  location.searchParams.set("digest", digest);
  const put = await fetch(location, { method: "PUT", body: data, headers: { "content-type": "application/octet-stream" } });
  if (put.status !== 201) fail(`blob ${digest} upload answered ${put.status}: ${await put.text()}`);
}

/** Push a local image to `<registry>/<repository>` by digest only: no tag is created. */
async function pushByDigest(local: string, name: string): Promise<string> {
  const r = parseRef(`${name}:x`);
  const dir = mkdtempSync(join(tmpdir(), "dwf-emu-oci-"));
  try {
    run(["podman", "push", "--quiet", local, `oci:${dir}:image`]);
    const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as { manifests: { digest: string; mediaType: string }[] };
    const desc = index.manifests[0]!;
    const blob = (d: string) => new Uint8Array(readFileSync(join(dir, "blobs", ...d.split(":"))));
    const manifestBytes = blob(desc.digest);
    const manifest = JSON.parse(new TextDecoder().decode(manifestBytes)) as { config: { digest: string }; layers: { digest: string }[] };
    for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) await uploadBlob(r, d, blob(d));
    const put = await fetch(`http://${r.host}/v2/${r.repository}/manifests/${desc.digest}`, {
      method: "PUT",
      body: manifestBytes,
      headers: { "content-type": desc.mediaType ?? "application/vnd.oci.image.manifest.v1+json" },
    });
    if (put.status !== 201) fail(`manifest upload answered ${put.status}: ${await put.text()}`);
    return desc.digest;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function bake(args: string[]): Promise<void> {
  let file = "docker-bake.hcl";
  let metadata: string | undefined;
  const sets: string[] = [];
  const names: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--file" || a === "-f") file = args[++i]!;
    else if (a === "--metadata-file") metadata = args[++i]!;
    else if (a === "--set") sets.push(args[++i]!);
    else if (a.startsWith("-")) fail(`emulated bake: unsupported flag ${a}`);
    else names.push(a);
  }
  const { targets, groups } = parseBake(readFileSync(file, "utf8"), process.env);
  for (const s of sets) {
    const m = /^([^.]+)\.([^=]+)=(.*)$/.exec(s);
    if (!m || !targets[m[1]!]) fail(`emulated bake: cannot apply --set ${s}`);
    targets[m[1]!]![m[2]!] = m[2] === "cache-to" || m[2] === "cache-from" || m[2] === "tags" || m[2] === "output" ? [m[3]!] : m[3]!;
  }
  const wanted = (names.length ? names : ["default"]).flatMap((n) => groups[n] ?? [n]);
  const meta: Record<string, Record<string, string>> = {};
  for (const name of wanted) {
    const t = targets[name];
    if (!t) fail(`emulated bake: no target "${name}"`);
    const platforms = (t.platforms as string[] | undefined) ?? ["linux/amd64"];
    if (platforms.some((p) => p !== "linux/amd64"))
      fail(`emulated bake builds linux/amd64 only; target ${name} asks for ${platforms.join(", ")}`);
    const local = `localhost/dwf-emu-build:${Math.random().toString(36).slice(2, 10)}`;
    const context = resolve((t.context as string) ?? ".");
    const dockerfile = resolve(context, (t.dockerfile as string) ?? "Dockerfile");
    const started = performance.now();
    run(["podman", "build", "--quiet", "--platform", "linux/amd64", "-f", dockerfile, "-t", local, context]);
    const outputs = ((t.output as string[] | undefined) ?? ["type=docker"]).map(parseOutput);
    const record: Record<string, unknown> = {
      kind: "build",
      target: name,
      ms: Math.round(performance.now() - started),
      cacheTo: t["cache-to"] ?? null,
    };
    for (const o of outputs) {
      if (o.type === "docker") {
        const tags = (t.tags as string[] | undefined) ?? [];
        if (DOCKERD) {
          run(["bash", "-c", 'set -o pipefail; podman save --format docker-archive "$1" | "$2" load', "load", local, REAL_DOCKER]);
          for (const tag of tags) run([REAL_DOCKER, "tag", local, tag]);
          run([REAL_DOCKER, "rmi", local]);
        } else for (const tag of tags) run(["podman", "tag", local, tag]);
        record.loaded = tags;
      } else if (o.type === "image" && o.push === "true") {
        if (o["push-by-digest"] !== "true") fail("emulated bake: only push-by-digest pushes are emulated");
        const digest = await pushByDigest(local, o.name!);
        meta[name] = { "containerimage.digest": digest, "image.name": o.name! };
        record.pushed = `${o.name}@${digest}`;
      } else fail(`emulated bake: unsupported output ${JSON.stringify(o)}`);
    }
    run(["podman", "rmi", "--force", local]);
    event(record);
  }
  if (metadata) writeFileSync(metadata, JSON.stringify(meta, null, 2));
}

// ---- imagetools ---------------------------------------------------------------------

async function getManifest(ref: string): Promise<{ status: number; body: Uint8Array; type: string; digest: string }> {
  const r = parseRef(ref);
  const res = await fetch(`http://${r.host}/v2/${r.repository}/manifests/${r.reference}`, { headers: { accept: MANIFEST_TYPES } });
  return {
    status: res.status,
    body: new Uint8Array(await res.arrayBuffer()),
    type: res.headers.get("content-type") ?? "",
    digest: res.headers.get("docker-content-digest") ?? "",
  };
}

async function imagetools(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === "inspect") {
    const ref = rest.find((a) => !a.startsWith("-") && !a.startsWith("{{"))!;
    const format = rest[rest.indexOf("--format") + 1];
    if (format !== "{{json .Manifest}}") fail(`emulated imagetools inspect supports --format '{{json .Manifest}}' only`);
    const m = await getManifest(ref);
    if (m.status === 404) fail(`${ref}: not found`);
    if (m.status !== 200) fail(`unexpected status from GET request to ${ref}: ${m.status}`);
    event({ kind: "lookup", ref, found: true });
    process.stdout.write(JSON.stringify({ mediaType: m.type, digest: m.digest, size: m.body.length }) + "\n");
    return;
  }
  if (sub === "create") {
    const tag = rest[rest.indexOf("--tag") + 1]!;
    const source = rest.filter((a, i) => !a.startsWith("-") && rest[i - 1] !== "--tag").at(-1)!;
    const m = await getManifest(source);
    if (m.status !== 200) fail(`${source}: ${m.status === 404 ? "not found" : `status ${m.status}`}`);
    const t = parseRef(tag);
    const put = await fetch(`http://${t.host}/v2/${t.repository}/manifests/${t.reference}`, {
      method: "PUT",
      body: m.body,
      headers: { "content-type": m.type },
    });
    if (put.status !== 201) fail(`tagging ${tag} answered ${put.status}`);
    event({ kind: "tag", tag, source });
    process.stderr.write(`tagged ${tag} -> ${source}\n`);
    return;
  }
  fail(`emulated buildx: imagetools ${sub} is not emulated`);
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] !== "buildx") {
    const proc = Bun.spawn([REAL_DOCKER, ...argv], { stdin: "inherit", stdout: "inherit", stderr: "inherit" });
    process.exit(await proc.exited);
  }
  const [, sub, ...rest] = argv;
  if (sub === "version") return void process.stdout.write("github.com/docker/buildx v0.0.0-emulated\n");
  if (sub === "bake") return bake(rest);
  if (sub === "imagetools") return imagetools(rest);
  fail(`emulated buildx: '${sub}' is not emulated`);
}

if (import.meta.main) await main(process.argv.slice(2));
