// The files `dwf init` writes, rendered from plain data: a commented devflow.toml and a
// hardened Dockerfile.devflow assembled from each stack's dockerfile() fragment.
import type { Extension } from "../sdk/types.ts";
import { DEBIAN_BASE, IMAGE_HOME, IMAGE_UID, IMAGE_USER, WORKSPACE } from "../sdk/image.ts";

interface ConfigInput {
  project: string;
  stacks: string[];
  /** Manifest-style evidence per stack, for the comment (empty when named on the command line). */
  how: "detected" | "named";
  targets: { pr: string[]; main: string[] };
  /** The container engine found on PATH, or null. */
  engine: string | null;
}

function tomlString(s: string): string {
  return JSON.stringify(s);
}

function tomlList(items: string[]): string {
  return `[${items.map(tomlString).join(", ")}]`;
}

export function renderConfig(c: ConfigInput): string {
  const runtime = c.engine
    ? [
        `# "container": every task runs in the image built from Dockerfile.devflow, so laptops and CI`,
        `# use the same toolchain versions. ${c.engine} was found on PATH when this file was written.`,
        `# Use --profile host (or DWF_PROFILE=host) to run on this machine's tools instead.`,
        `profile = "container"`,
      ]
    : [
        `# "auto": run in a container when an engine answers, otherwise on the host. No container`,
        `# engine (podman or docker) was found on PATH when this file was written; install one and`,
        `# set profile = "container" so every machine runs the same toolchain.`,
        `profile = "auto"`,
      ];
  const emptyNote = (list: string[]) =>
    list.length ? [] : ['# None of the usual commands had anything to run here yet: add some, e.g. "test:unit".'];
  const lines = [
    `# devflow.toml: how dwf checks this repository (written by 'dwf init'; edit freely).`,
    `# Commands are <primary>:<selector>, e.g. 'dwf test:unit'; 'dwf verify' runs the pr profile.`,
    ``,
    `[project]`,
    `name = ${tomlString(c.project)}`,
    c.how === "detected"
      ? `# Detected from the repository's files; remove a stack to stop running it.`
      : `# Named on the command line of 'dwf init'.`,
    `stack = ${tomlList(c.stacks)}`,
    ``,
    `[runtime]`,
    ...runtime,
    ``,
    `[container]`,
    `# The toolchain image; its tag is a fingerprint of this file and the stacks' manifests.`,
    `dockerfile = "Dockerfile.devflow"`,
    `# image = "ghcr.io/<owner>/<repo>-ci"   # default: localhost/dwf-<project>`,
    ``,
    `[cache]`,
    `# Tool caches (shared by host and container runs) and task results. dwf writes a .gitignore into it, so git never sees it.`,
    `root = ".cache/devflow"`,
    ``,
    `[targets]`,
    `# 'dwf verify' (or 'dwf verify pr'): the quick gate for every change.`,
    ...emptyNote(c.targets.pr),
    `pr = ${tomlList(c.targets.pr)}`,
    `# 'dwf verify main': the fuller gate for the default branch.`,
    ...emptyNote(c.targets.main),
    `main = ${tomlList(c.targets.main)}`,
    ``,
    `# An external extension for a stack dwf has no builtin for (see "Writing an extension"):`,
    `# [extensions.mystack]`,
    `# source = "path"`,
    `# path = "tools/devflow-ext-mystack"`,
    `# trusted = true   # allow it to run on the host under the container profile`,
    ``,
  ];
  return lines.join("\n");
}

/** Floating tags the builtin fragments name, pinned to a dated snapshot for reproducible builds. */
const PINNED_BASES: Record<string, string> = {
  [DEBIAN_BASE]: "debian:bookworm-20241016-slim",
};

function pinBase(base: string): string {
  return PINNED_BASES[base] ?? base;
}

function isPinned(base: string): boolean {
  return base.includes("@sha256:") || /:[^:/]*\d{6,}[^:/]*$/.test(base);
}

/** Packages the toolchain stage needs only to fetch and unpack installers. */
const FETCH_PACKAGES = ["ca-certificates", "curl", "unzip", "xz-utils"];

function aptInstall(packages: string[]): string {
  return `RUN apt-get update && apt-get install -y --no-install-recommends ${packages.join(" ")} && rm -rf /var/lib/apt/lists/*`;
}

/**
 * Two stages: installers run in `toolchains`, which has the download tools; the final image
 * gets the run-time packages, the dwf user, and a copy of what the installers left under
 * /usr/local, /opt and /home/dwf — no curl, no installer caches, no half-finished layers.
 */
export function renderDockerfile(stacks: Extension[]): string {
  const fragments = stacks.map((ext) => ({ name: ext.name, packages: [] as string[], ...(ext.dockerfile?.() ?? { install: [] }) }));
  const bases = [...new Set(fragments.map((f) => f.base).filter((b): b is string => Boolean(b)))];
  const base = pinBase(bases[0] ?? DEBIAN_BASE);
  const runtime = [...new Set(fragments.flatMap((f) => f.packages ?? []))];
  const shellSetup = [
    `# Fail a RUN when any command of a pipe fails (curl | sh must not hide a failed download).`,
    `SHELL ["/bin/bash", "-o", "pipefail", "-c"]`,
    `ARG DEBIAN_FRONTEND=noninteractive`,
  ];
  const out: string[] = [
    `# Dockerfile.devflow: the toolchain image dwf runs tasks in (written by 'dwf init').`,
    `# Its tag is a fingerprint of this file and the stacks' manifests: edit it, and dwf rebuilds.`,
    ``,
    `# Pinned to a dated snapshot so every build starts from the same bytes; bump it deliberately.`,
    ...(isPinned(base) ? [] : [`# WARNING: '${base}' is a floating tag; pin it (tag with a date, or @sha256:…).`]),
    ...(bases.length > 1 ? [`# The stacks asked for different bases (${bases.join(", ")}); using the first.`] : []),
    `FROM ${base} AS toolchains`,
    ...shellSetup,
    aptInstall([...new Set([...FETCH_PACKAGES, ...runtime])]),
    `RUN mkdir -p ${IMAGE_HOME} /opt`,
    ``,
  ];
  for (const f of fragments) {
    if (!f.install.length) continue;
    out.push(`# ${f.name} toolchain`);
    for (const line of f.install) out.push(`RUN ${line}`);
    out.push(``);
  }
  out.push(
    `FROM ${base}`,
    ...shellSetup,
    ``,
    `# tini reaps zombies and forwards signals, so Ctrl-C stops the task inside the container.`,
    aptInstall(["tini", "ca-certificates", ...runtime.filter((p) => p !== "ca-certificates")]),
    ``,
    `# The unprivileged user tasks run as by default (UID ${IMAGE_UID}); dwf usually runs them as the`,
    `# invoking user, so toolchains under HOME are left world-writable by their installers.`,
    `RUN groupadd --gid ${IMAGE_UID} ${IMAGE_USER} && useradd --uid ${IMAGE_UID} --gid ${IMAGE_UID} --create-home --shell /bin/bash ${IMAGE_USER}`,
    `COPY --from=toolchains /usr/local /usr/local`,
    `COPY --from=toolchains /opt /opt`,
    `COPY --from=toolchains --chown=${IMAGE_UID}:${IMAGE_UID} ${IMAGE_HOME} ${IMAGE_HOME}`,
    ``,
    `ENV HOME=${IMAGE_HOME}`,
    `USER ${IMAGE_USER}`,
    `WORKDIR ${WORKSPACE}`,
    `ENTRYPOINT ["/usr/bin/tini", "--"]`,
    `CMD ["bash"]`,
    ``,
  );
  return out.join("\n");
}
