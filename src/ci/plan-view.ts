// `dwf ci plan` output: per profile, the jobs in order with the exact dwf commands and, per
// job, the resolved argv of every task those commands run in the image — what
// `dwf verify --dry-run --json --profile container` shows locally. As text or JSON.
import { DERIVED_IMAGE, jobStages, planJobs, warmCommand, type CiJob, type CiSettings } from "./model.ts";

interface PlannedTask {
  id: string;
  command: string;
  stack: string;
  /** program and args as the action runs inside the image; absent when skipped. */
  argv?: string[];
  skip?: string;
  /** A warm action (`dwf warm <command>`), not the command itself. */
  warm?: true;
}

/**
 * Resolves a job's dwf commands to the tasks they run (the CLI passes one backed by the real
 * plan); `warm`: the commands' warm actions, as `dwf warm` plans them.
 */
type TaskResolver = (commands: string[], opts?: { warm?: boolean }) => Promise<PlannedTask[]>;

function commandsOf(job: CiJob): string[] {
  return [...job.sequential.map((c) => `dwf ${c}`), ...(job.warm.length ? [warmCommand(job.warm)] : [])];
}

/** Every task a job runs: its commands', then its warm actions. */
async function jobTasks(s: CiSettings, job: CiJob, profile: string, resolve: TaskResolver): Promise<PlannedTask[]> {
  const tasks = await resolve(jobRefs(s, job, profile));
  if (job.warm.length === 0) return tasks;
  return [...tasks, ...(await resolve(job.warm, { warm: true })).map((t) => ({ ...t, warm: true as const }))];
}

function imageName(s: CiSettings): string {
  return s.image ?? DERIVED_IMAGE;
}

/** The commands a job runs, as `primary:selector` refs (single mode: the whole profile). */
function jobRefs(s: CiSettings, job: CiJob, profile: string): string[] {
  if (job.kind === "single") return s.profiles[profile] ?? [];
  return job.sequential;
}

function describe(j: CiJob): string {
  switch (j.kind) {
    case "image":
      return "push: dwf fingerprint; if <image>:<fingerprint> is missing: bake every platform, push by digest, Trivy (fixed CRITICAL,HIGH block), tag";
    case "image-pr":
      return "pull request: dwf fingerprint; if missing: build linux/amd64, Trivy, hand over as an artifact (nothing pushed)";
    case "rescan":
      return "weekly: Trivy on the current image by digest";
    default:
      return commandsOf(j).join(" -> ");
  }
}

export async function ciPlanJson(s: CiSettings, workflow: string, resolve?: TaskResolver) {
  const profiles = [];
  for (const [name, commands] of Object.entries(s.profiles)) {
    const jobs = planJobs(s, commands, name);
    const stages = jobStages(jobs);
    const out = [];
    for (const j of jobs) {
      const work = j.kind !== "image" && j.kind !== "image-pr" && j.kind !== "rescan";
      out.push({
        id: j.id,
        kind: j.kind,
        stage: stages.get(j.id)!,
        needs: j.needs,
        image: s.runtime === "container" ? `${imageName(s)}@<digest of :<fingerprint>>` : null,
        commands: commandsOf(j),
        cache: j.cache,
        tasks: work && resolve ? await jobTasks(s, j, name, resolve) : [],
      });
    }
    profiles.push({ name, workflow: name === s.profile, commands, jobs: out });
  }
  return {
    version: 2,
    workflow,
    profile: s.profile,
    mode: s.mode,
    runtime: s.runtime,
    image: s.runtime === "container" ? imageName(s) : null,
    imageRef: s.runtime === "container" ? `${imageName(s)}:<fingerprint>` : null,
    platforms: s.platforms,
    dwfVersion: s.dwfVersion,
    cachePaths: s.cachePaths,
    profiles,
  };
}

export async function renderCiPlan(s: CiSettings, workflow: string, resolve?: TaskResolver): Promise<string> {
  let out = `CI plan for ${workflow} (profile '${s.profile}', mode '${s.mode}', runtime '${s.runtime}')\n`;
  if (s.runtime === "container") out += `image:     ${imageName(s)}:<fingerprint>, run by digest  (${s.platforms.join(", ")})\n`;
  else out += "image:     none (runtime 'host': tasks run on the runner, which needs the toolchains)\n";
  out += `dwf:       ${s.dwfVersion}, from ${s.repository} releases, checked against the SHA-256 in the workflow\n`;
  out += `cache:     ${s.cachePaths.join(", ")}  (keyed by fingerprint + dependency inputs)\n`;
  const order = [s.profile, ...Object.keys(s.profiles).filter((p) => p !== s.profile)];
  for (const name of order) {
    const commands = s.profiles[name];
    if (!commands) continue;
    const jobs = planJobs(s, commands, name);
    const stages = jobStages(jobs);
    const width = Math.max(...jobs.map((j) => j.id.length));
    out += `\nprofile '${name}'${name === s.profile ? " (the workflow runs this one)" : ""}:\n`;
    let last = 0;
    for (const j of jobs) {
      const stage = stages.get(j.id)!;
      const num = stage !== last ? `${stage}.` : "  ";
      last = stage;
      const cache =
        j.cache === "save"
          ? "  [restores, saves the cache when its key is new]"
          : j.cache === "restore"
            ? "  [restores the warm cache]"
            : "";
      out += `  ${num} ${j.id.padEnd(width)}  ${describe(j)}${cache}\n`;
      if (resolve && name === s.profile && (j.kind === "warm" || j.kind === "verify" || j.kind === "single")) {
        for (const t of await jobTasks(s, j, name, resolve))
          out += `       ${" ".repeat(width)}    ${t.warm ? "warm: " : ""}${t.argv ? t.argv.join(" ") : `(skipped: ${t.skip})`}\n`;
      }
    }
  }
  return out;
}
