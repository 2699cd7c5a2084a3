// The CI model: settings drawn from devflow.toml (plain data) and the job plan derived
// from a profile's commands. Pure: the workflow renderer and `dwf ci plan` both read it.
import { imageHost } from "../core/image-name.ts";
import type { RuntimeKind } from "../core/runner.ts";

type CiMode = "jobs" | "single";

/** Where CI runs the tasks: in the fingerprinted image (container, auto) or on the runner (host). */
type CiRuntime = RuntimeKind;

export interface CiSettings {
  /** Profile under [targets] the workflow runs. */
  profile: string;
  /** Every profile, expanded to `primary:selector` commands in profile order. */
  profiles: Record<string, string[]>;
  mode: CiMode;
  runtime: CiRuntime;
  /** Image name without tag; null = derived in CI as ghcr.io/<owner>/<repo>-ci. */
  image: string | null;
  platforms: string[];
  /** dwf release the workflow installs. */
  dwfVersion: string;
  /** SHA-256 of that release's linux-x64 archive, written into the workflow at generate time. */
  dwfSha256: string;
  /** `owner/name` of the repository dwf releases come from. */
  repository: string;
  /** Default branch: pushes to it run the workflow, build the image and export the build cache. */
  branch: string;
  dockerfile: string;
  /** DWF_CACHE_ROOT relative to the repository root. */
  cacheDir: string;
  /** Workspace paths the warm job hands to the verify jobs: the cache root, installed dependencies, build outputs. */
  cachePaths: string[];
  /** Commands the warm job runs before the profile's own setup/build commands (e.g. setup:deps). */
  warmFirst: string[];
  /**
   * Commands (of any profile) some stack has a warm action for: the warm job runs
   * `dwf warm <those of the profile's checks>` after the build, so their verify jobs find the
   * tool's outputs for the dependencies in the cache (a linter's, which a build does not leave).
   */
  warmable: string[];
  bakeFile: string;
}

type JobKind = "image" | "image-pr" | "rescan" | "warm" | "verify" | "single";

export interface CiJob {
  id: string;
  name: string;
  kind: JobKind;
  needs: string[];
  /** dwf commands run one after the other (`verify <profile>` in single mode). */
  sequential: string[];
  /** Commands whose warm actions the job runs after `sequential`, as one `dwf warm …` (warm job only). */
  warm: string[];
  /** restore+save (only when the key is new), restore only, or none. */
  cache: "save" | "restore" | "none";
}

export const DERIVED_IMAGE = "ghcr.io/<owner>/<repo>-ci";

/** Setup and build commands warm the workspace in the warm job; everything else verifies. */
function isBuildPhase(command: string): boolean {
  const primary = command.split(":")[0];
  return primary === "setup" || primary === "build";
}

function jobId(command: string): string {
  return command.replace(/[^a-z0-9_-]+/g, "-");
}

export const IMAGE_JOBS = ["image", "image-pr"] as const;

/** Jobs for one profile's commands, in the order they run. */
export function planJobs(
  s: Pick<CiSettings, "mode" | "runtime" | "warmFirst" | "warmable" | "profile">,
  commands: string[],
  profile = s.profile,
): CiJob[] {
  const jobs: CiJob[] = [];
  const container = s.runtime === "container";
  if (container) {
    jobs.push(
      { id: "image", name: "image: build, scan, push", kind: "image", needs: [], sequential: [], warm: [], cache: "none" },
      {
        id: "image-pr",
        name: "image: build and scan (pull request, no push)",
        kind: "image-pr",
        needs: [],
        sequential: [],
        warm: [],
        cache: "none",
      },
      { id: "rescan", name: "image: weekly rescan", kind: "rescan", needs: [], sequential: [], warm: [], cache: "none" },
    );
  }
  const imageNeeds = container ? [...IMAGE_JOBS] : [];
  if (s.mode === "single") {
    jobs.push({
      id: "verify",
      name: `dwf verify ${profile}`,
      kind: "single",
      needs: imageNeeds,
      sequential: [`verify ${profile}`],
      warm: [],
      cache: "save",
    });
    return jobs;
  }
  const build = [...s.warmFirst.filter((c) => !commands.includes(c)), ...commands.filter(isBuildPhase)];
  const checks = commands.filter((c) => !isBuildPhase(c));
  const warm = checks.filter((c) => s.warmable.includes(c));
  const warmed = build.length > 0 || warm.length > 0;
  if (warmed) {
    const name = [...build.map((c) => `dwf ${c}`), ...(warm.length ? [warmCommand(warm)] : [])].join(", ");
    jobs.push({ id: "warm", name: `warm: ${name}`, kind: "warm", needs: imageNeeds, sequential: build, warm, cache: "save" });
  }
  const needs = warmed ? [...imageNeeds, "warm"] : imageNeeds;
  for (const c of checks) {
    jobs.push({ id: jobId(c), name: `dwf ${c}`, kind: "verify", needs, sequential: [c], warm: [], cache: warmed ? "restore" : "none" });
  }
  return jobs;
}

/** The step that runs the warm actions of these commands. */
export function warmCommand(commands: string[]): string {
  return `dwf warm ${commands.join(" ")}`;
}

/** Stage of each job (1 = first), from its `needs`. */
export function jobStages(jobs: CiJob[]): Map<string, number> {
  const stage = new Map<string, number>();
  for (const j of jobs) stage.set(j.id, 1 + Math.max(0, ...j.needs.map((n) => stage.get(n) ?? 0)));
  return stage;
}

/** Registry host of an image name: the one it names, else Docker Hub; no image means ghcr.io. */
export function registryHost(image: string | null): string {
  if (image === null) return "ghcr.io";
  return imageHost(image) ?? "docker.io";
}
