// SHA256SUMS: the format `sha256sum` writes (`<hex>  <name>`, `*` before binary names)
// and the check both install.sh and `dwf upgrade` apply before installing anything.

/** name → lower-case hex digest. Lines that are not checksum lines are ignored. */
export function parseSha256Sums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(line.trim());
    if (m) sums.set(m[2]!.trim(), m[1]!.toLowerCase());
  }
  return sums;
}

export function formatSha256Sums(entries: Iterable<[name: string, hex: string]>): string {
  return [...entries].map(([name, hex]) => `${hex}  ${name}\n`).join("");
}

export type ChecksumVerdict = { ok: true } | { ok: false; reason: string };

/** Compare an asset's digest with its SHA256SUMS entry; a missing entry is a failure. */
export function checkDigest(sums: Map<string, string>, name: string, actualHex: string): ChecksumVerdict {
  const expected = sums.get(name);
  if (!expected) return { ok: false, reason: `SHA256SUMS has no entry for ${name}` };
  if (expected !== actualHex.toLowerCase()) return { ok: false, reason: `checksum mismatch for ${name}: expected ${expected}, got ${actualHex.toLowerCase()}` };
  return { ok: true };
}

export function sha256Hex(data: Uint8Array | ArrayBuffer): string {
  return new Bun.CryptoHasher("sha256").update(data).digest("hex");
}
