// What went wrong in a failed image build, in one sentence, from the engine's own output
// (podman, docker's classic builder, BuildKit): the network, a base image that does not
// exist, or a step that failed (with the last lines it printed).

export type BuildFailureKind = "network" | "base-image" | "step" | "other";

interface BuildFailure {
  kind: BuildFailureKind;
  /** One sentence, no trailing period. */
  summary: string;
  /** The last lines the failing step printed (kind "step"). */
  tail: string[];
}

/** Network failures, each worded with the host involved when the engine names it. */
const NETWORK: [RegExp, (host?: string) => string][] = [
  [
    /no such host|Temporary failure in name resolution|Could not resolve( host)?|server misbehaving|Name or service not known|EAI_AGAIN/i,
    (h) => `${h ? `the name ${h}` : "a host name"} did not resolve (no network, or no DNS)`,
  ],
  [
    /x509:|certificate signed by unknown authority|SELF_SIGNED_CERT|certificate verify failed/i,
    (h) => `${h ?? "a server"}'s TLS certificate was not trusted (a proxy that intercepts TLS?)`,
  ],
  [
    /i\/o timeout|TLS handshake timeout|Connection timed out|context deadline exceeded/i,
    (h) => `the connection${h ? ` to ${h}` : ""} timed out`,
  ],
  [/network is unreachable|no route to host/i, (h) => `the network is unreachable${h ? ` (${h})` : ""}`],
  [/connection refused/i, (h) => `${h ?? "a server"} refused the connection`],
];

/** The host a network error line is about: `lookup registry-1.docker.io`, `Get "https://host/…"`, `resolve host: x`. */
function hostIn(line: string | undefined): string | undefined {
  if (!line) return undefined;
  const m = /lookup ([^\s:]+)|Get "https?:\/\/([^/"]+)|resolve host: ([^\s]+)/.exec(line);
  return m ? (m[1] ?? m[2] ?? m[3]) : undefined;
}

const MISSING_BASE =
  /manifest unknown|not found: manifest|repository does not exist|pull access denied|requested access to the resource is denied|name unknown|short-name .* did not resolve|image not known|: not found$/im;

const STEP: RegExp[] = [
  /building at STEP "(.+?)": (?:while running runtime: )?exit status (\d+)/, // podman / buildah (the second form under chroot isolation)
  /The command '(.+?)' returned a non-zero code: (\d+)/, // docker classic builder
  /process "(.+?)" did not complete successfully: exit code: (\d+)/, // BuildKit
];

const TAIL_LINES = 8;

function lines(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trimEnd());
}

/** The first line mentioning the pattern, for the detail in parentheses. */
function lineWith(text: string, re: RegExp): string | undefined {
  return lines(text).find((l) => re.test(l));
}

/** The base image an engine failed to fetch (`initializing source docker://debian:bookworm-slim`, `pull access denied for x`). */
function failedBase(text: string): string | undefined {
  return (
    /initializing source (?:docker:\/\/)?([^\s:]+(?::[^\s:@]+)?(?:@sha256:[0-9a-f]+)?):/.exec(text)?.[1] ??
    /pull access denied for ([^\s,]+)/.exec(text)?.[1]
  );
}

export function summariseBuildFailure(output: string, exitCode: number): BuildFailure {
  const all = lines(output);
  for (const re of STEP) {
    const m = re.exec(output);
    if (!m) continue;
    const at = all.findIndex((l) => re.test(l));
    // What the step printed: the lines before the engine's error, without the builder's own chatter.
    const before = all
      .slice(0, at < 0 ? all.length : at)
      .filter((l) => l.trim() !== "" && !/^(STEP \d+\/\d+:|#\d+ |-->|Step \d+\/\d+ :| ---> |subprocess exited with status \d+$)/.test(l));
    const recent = before.slice(-40).join("\n");
    const network = NETWORK.find(([re]) => re.test(recent));
    const step = m[1]!.replace(/^\/bin\/sh -c /, "RUN ");
    const summary = `step '${clip(step)}' failed (exit status ${m[2]})${network ? `; it could not reach the network: ${network[1](hostIn(lineWith(recent, network[0])))}` : ""}`;
    return { kind: network ? "network" : "step", summary, tail: before.slice(-TAIL_LINES) };
  }
  // podman: a step that failed before running anything (COPY of a missing file, a bad ADD URL).
  const early = /building at STEP "(.+?)": (.+)$/m.exec(output);
  if (early && !/^creating build container/.test(early[2]!)) {
    const why = early[2]!
      .split(": ")
      .slice(-3)
      .join(": ")
      .replace(/[.\s]+$/, "");
    return { kind: "step", summary: `step '${clip(early[1]!)}' failed: ${clip(why, 200)}`, tail: [] };
  }
  const base = failedBase(output);
  // No registry serves localhost/: the engine's "connection refused" only means the image is not here.
  if (base?.startsWith("localhost/")) {
    return {
      kind: "base-image",
      summary: `the base image ${base} is not on this machine (a localhost/ image is never pulled: build or import it first)`,
      tail: [],
    };
  }
  const network = NETWORK.find(([re]) => re.test(output));
  if (network) {
    const host = hostIn(lineWith(output, network[0]));
    return {
      kind: "network",
      summary: `${base ? `the base image ${base} could not be pulled` : "the engine could not reach the network"}: ${network[1](host)}`,
      tail: [],
    };
  }
  if (MISSING_BASE.test(output))
    return {
      kind: "base-image",
      summary: `the base image ${base ?? "named in FROM"} does not exist where the engine looked (or needs a login)`,
      tail: [],
    };
  const last = [...all].reverse().find((l) => /^(Error|ERROR)\b/.test(l.trim())) ?? [...all].reverse().find((l) => l.trim() !== "");
  return {
    kind: "other",
    summary: last ? clip(last.trim().replace(/[.\s]+$/, ""), 300) : `the engine exited with code ${exitCode}`,
    tail: [],
  };
}

function clip(text: string, max = 160): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
