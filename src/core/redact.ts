// Secrets never reach a log: env values whose names look secret are masked wherever
// dwf prints an env map, a command line or an error.

const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL/i;
export const REDACTED = "***";

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

export function redactEnv(env: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env ?? {})) out[k] = isSecretName(k) && v !== "" ? REDACTED : v;
  return out;
}

/** Secret values currently in the environment (and any extra maps), longest first. */
export function secretValues(...envs: (Record<string, string | undefined> | undefined)[]): string[] {
  const values = new Set<string>();
  for (const env of envs) {
    for (const [k, v] of Object.entries(env ?? {})) if (v && v.length >= 4 && isSecretName(k)) values.add(v);
  }
  return [...values].sort((a, b) => b.length - a.length);
}

/** Mask every known secret value inside free text. */
export function redactText(text: string, secrets: string[] = secretValues(process.env)): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}
