// SHA256SUMS: the format `sha256sum` writes (`<hex>  <name>`, `*` before binary names)
// and the check both install.sh and `dwf upgrade` apply before installing anything. Both
// read it the same way: a name listed twice with different digests, or a line naming the
// asset whose digest is not 64 hex digits, is an error, never resolved by line order.

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

type SumsEntry = { ok: true; hex: string } | { ok: false; reason: string };

/**
 * The one digest SHA256SUMS gives for `name`. Lines are split into fields on blanks like
 * install.sh's awk does; a line whose second field is `name` or `*name` names the asset.
 */
export function sumsEntry(text: string, name: string): SumsEntry {
  const found = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const fields = line.trim().split(/[ \t]+/);
    if (fields.length < 2 || (fields[1] !== name && fields[1] !== `*${name}`)) continue;
    const hex = fields[0]!;
    if (!/^[0-9a-fA-F]{64}$/.test(hex) || fields.length > 2) return { ok: false, reason: `SHA256SUMS has a malformed line for ${name}` };
    found.add(hex.toLowerCase());
  }
  if (found.size === 0) return { ok: false, reason: `SHA256SUMS has no entry for ${name}` };
  if (found.size > 1) return { ok: false, reason: `SHA256SUMS lists ${name} ${found.size} times with different checksums` };
  return { ok: true, hex: [...found][0]! };
}

type ChecksumVerdict = { ok: true } | { ok: false; reason: string };

/** Compare an asset's digest with its SHA256SUMS entry; a missing or ambiguous entry is a failure. */
export function checkDigest(sums: string | Map<string, string>, name: string, actualHex: string): ChecksumVerdict {
  const entry: SumsEntry =
    typeof sums === "string"
      ? sumsEntry(sums, name)
      : sums.has(name)
        ? { ok: true, hex: sums.get(name)! }
        : { ok: false, reason: `SHA256SUMS has no entry for ${name}` };
  if (!entry.ok) return entry;
  if (entry.hex !== actualHex.toLowerCase())
    return { ok: false, reason: `checksum mismatch for ${name}: expected ${entry.hex}, got ${actualHex.toLowerCase()}` };
  return { ok: true };
}

export function sha256Hex(data: Uint8Array | ArrayBuffer): string {
  return new Bun.CryptoHasher("sha256").update(data).digest("hex");
}
