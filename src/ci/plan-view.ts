// `dwf ci plan` output: per profile, the jobs in order with the exact dwf commands, as
// text or JSON. Pure over CiSettings.
import { DERIVED_IMAGE, jobStages, planJobs, type CiJob, type CiSettings } from "./model.ts";

function commandsOf(job: CiJob): string[] {
  return [...job.sequential, ...job.parallel].map((c) => `dwf ${c}`);
}

function imageName(s: CiSettings): string {
  return s.image ?? DERIVED_IMAGE;
}

export function ciPlanJson(s: CiSettings, workflow: string) {
  return {
    version: 1,
    workflow,
    profile: s.profile,
    mode: s.mode,
    image: imageName(s),
    imageRef: `${imageName(s)}:<fingerprint>`,
    platforms: s.platforms,
    dwfVersion: s.dwfVersion,
    profiles: Object.entries(s.profiles).map(([name, commands]) => {
      const jobs = planJobs(commands, s.mode);
      const stages = jobStages(jobs);
      return {
        name,
        workflow: name === s.profile,
        jobs: jobs.map((j) => ({
          id: j.id,
          stage: stages.get(j.id)!,
          needs: j.needs,
          image: j.container ? `${imageName(s)}:<fingerprint>` : null,
          commands: commandsOf(j),
          parallel: j.parallel.length > 0,
          cache: j.cache,
        })),
      };
    }),
  };
}

export function renderCiPlan(s: CiSettings, workflow: string): string {
  let out = `CI plan for ${workflow} (profile '${s.profile}', mode '${s.mode}')\n`;
  out += `image:     ${imageName(s)}:<fingerprint>  (${s.platforms.join(", ")})\n`;
  out += `dwf:       ${s.dwfVersion}, from ${s.repository} releases, checksum-verified in every job\n`;
  const order = [s.profile, ...Object.keys(s.profiles).filter((p) => p !== s.profile)];
  for (const name of order) {
    const commands = s.profiles[name];
    if (!commands) continue;
    const jobs = planJobs(commands, s.mode);
    const stages = jobStages(jobs);
    const width = Math.max(...jobs.map((j) => j.id.length));
    out += `\nprofile '${name}'${name === s.profile ? " (the workflow runs this one)" : ""}:\n`;
    let last = 0;
    for (const j of jobs) {
      const stage = stages.get(j.id)!;
      const num = stage !== last ? `${stage}.` : "  ";
      last = stage;
      let what: string;
      if (j.kind === "prep") what = "dwf fingerprint; if the image is missing: bake, Trivy scan (CRITICAL,HIGH), push";
      else if (j.kind === "single") what = [...j.sequential.map((c) => `dwf ${c}`), j.parallel.length ? `in parallel: ${j.parallel.map((c) => `dwf ${c}`).join(", ")}` : ""].filter(Boolean).join(" -> ");
      else what = commandsOf(j).join(" -> ");
      const cache = j.cache === "save" ? "  [saves cache]" : j.cache === "restore" ? "  [restores cache]" : "";
      out += `  ${num} ${j.id.padEnd(width)}  ${what}${cache}\n`;
    }
  }
  return out;
}
