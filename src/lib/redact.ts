// Secrets never reach a log: env values whose names look secret are masked wherever
// dwf prints an env map, a command line or an error.

const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL/i;
const REDACTED = "***";

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

/**
 * Masks secrets in text that arrives in chunks: a secret split across two chunks is still
 * caught, because a chunk's tail that could begin a secret is held back until the next one.
 */
export function createStreamRedactor(secrets: string[]) {
  let pending = "";
  const longest = secrets.reduce((n, s) => Math.max(n, s.length), 0);
  return {
    push(chunk: string): string {
      const text = redactText(pending + chunk, secrets);
      let hold = 0;
      for (let k = Math.min(longest - 1, text.length); k > 0; k--) {
        const tail = text.slice(-k);
        if (secrets.some((s) => s.startsWith(tail))) {
          hold = k;
          break;
        }
      }
      pending = hold ? text.slice(-hold) : "";
      return hold ? text.slice(0, -hold) : text;
    },
    /** What is still held back, once the stream has ended. */
    flush(): string {
      const rest = redactText(pending, secrets);
      pending = "";
      return rest;
    },
  };
}
